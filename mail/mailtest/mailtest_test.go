package mailtest_test

import (
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/mail/mailtest"
)

func TestServerReceivesAndParses(t *testing.T) {
	srv := mailtest.NewServer(t)
	// A message another client might send: base64 text, quoted-printable
	// HTML, an encoded subject, LF line endings left for the client to fix.
	raw := strings.Join([]string{
		"From: a@example.com",
		"To: b@example.org",
		"Subject: =?utf-8?b?R3LDvMOfZQ==?=",
		"MIME-Version: 1.0",
		`Content-Type: multipart/alternative; boundary="XYZ"`,
		"",
		"--XYZ",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: base64",
		"",
		"b3BlbiBodHRwOi8vaG9zdC9yZXNldD90b2tlbj1hYmMmeD0x",
		"--XYZ",
		"Content-Type: text/html; charset=utf-8",
		"Content-Transfer-Encoding: quoted-printable",
		"",
		`<a href=3D"http://host/reset?token=3Dabc">x</a>=`,
		"",
		"--XYZ--",
		"",
	}, "\r\n")
	if err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.org"}, []byte(raw)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	r, err := srv.WaitMessage(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"From", r.From, "a@example.com"},
		{"Subject", r.Subject, "Grüße"},
		{"Text", r.Text, "open http://host/reset?token=abc&x=1"},
		{"HTML", r.HTML, `<a href="http://host/reset?token=abc">x</a>`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if tok, err := r.LinkToken("/reset"); err != nil || tok != "abc" {
		t.Errorf("LinkToken: got %q (err %v), want abc", tok, err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("Messages: got %d, want 1", n)
	}
	if _, err := srv.WaitMessage(50 * time.Millisecond); err == nil {
		t.Errorf("WaitMessage with nothing new: got nil, want a timeout error")
	}
}

func TestLinkToken(t *testing.T) {
	tests := []struct {
		name, body, path, want string
		wantErr                bool
	}{
		{"first matching link", "see http://h/other?token=no and http://h/reset?token=yes&a=b\nhttp://h/reset?token=later", "/reset", "yes", false},
		{"percent-encoded", "http://h/reset?token=a%2Bb", "/reset", "a+b", false},
		{"no such path", "http://h/reset?token=x", "/verify", "", true},
		{"no token", "http://h/reset?t=x", "/reset", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mailtest.LinkToken(tt.body, tt.path)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("LinkToken: got %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
