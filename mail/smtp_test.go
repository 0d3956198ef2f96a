package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/mail"
	"github.com/authd/authd/mail/mailtest"
)

var fixedNow = time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)

func newSMTPSender(t *testing.T, cfg mail.Config) *mail.SMTPSender {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.From == "" {
		cfg.From = "authd <authd@example.com>"
	}
	cfg.Now = func() time.Time { return fixedNow }
	s, err := mail.NewSMTPSender(cfg)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	return s
}

func testMessage() mail.Message {
	return mail.Message{
		To:      "Ada Lovelace <ada@example.org>",
		Subject: "Grüße — réinitialisez ✓",
		Text:    "Hello Ada,\n.a line that starts with a dot\nhttp://localhost:8080/reset?token=" + strings.Repeat("Tk_-", 30) + "\nbye\n",
		HTML:    `<p>Hello Ada, <a href="http://localhost:8080/reset?token=x">reset</a></p>`,
	}
}

func TestSMTPSendEndToEnd(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr()})
	msg := testMessage()
	if err := s.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r, err := srv.WaitMessage(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}

	if got, want := r.From, "authd@example.com"; got != want {
		t.Errorf("MAIL FROM: got %q, want %q", got, want)
	}
	if got, want := r.To, []string{"ada@example.org"}; !slices.Equal(got, want) {
		t.Errorf("RCPT TO: got %q, want %q", got, want)
	}
	if r.TLS || r.AuthUser != "" {
		t.Errorf("session: got TLS %v AuthUser %q, want no TLS and no AUTH from a plain server", r.TLS, r.AuthUser)
	}

	headers := []struct{ name, want string }{
		{"Date", "Sat, 07 Jun 2025 08:09:10 +0000"},
		{"From", `"authd" <authd@example.com>`},
		{"To", `"Ada Lovelace" <ada@example.org>`},
		{"MIME-Version", "1.0"},
		{"Auto-Submitted", "auto-generated"},
	}
	for _, h := range headers {
		if got := r.Header.Get(h.name); got != h.want {
			t.Errorf("header %s: got %q, want %q", h.name, got, h.want)
		}
	}
	if d, err := r.Header.Date(); err != nil || !d.Equal(fixedNow) {
		t.Errorf("Date: got %v (err %v), want %v", d, err, fixedNow)
	}
	if id := r.Header.Get("Message-ID"); !regexp.MustCompile(`^<[A-Z2-7]{26}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID: got %q, want <26 random base32 characters@example.com>", id)
	}
	if got := r.Subject; got != msg.Subject {
		t.Errorf("Subject: got %q, want %q", got, msg.Subject)
	}
	if raw := r.Header.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Errorf("raw Subject: got %q, want RFC 2047 encoded words", raw)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
		t.Errorf("Content-Type: got %q, want multipart/alternative", ct)
	}

	if len(r.Parts) != 2 {
		t.Fatalf("parts: got %d, want 2 (text, then html)", len(r.Parts))
	}
	for i, want := range []string{"text/plain; charset=utf-8", "text/html; charset=utf-8"} {
		if got := r.Parts[i].Header.Get("Content-Type"); got != want {
			t.Errorf("part %d Content-Type: got %q, want %q", i, got, want)
		}
		if got := r.Parts[i].Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
			t.Errorf("part %d Content-Transfer-Encoding: got %q, want quoted-printable", i, got)
		}
	}
	if r.Text != msg.Text {
		t.Errorf("text part: got %q, want %q", r.Text, msg.Text)
	}
	if r.HTML != msg.HTML+"\n" {
		t.Errorf("html part: got %q, want %q", r.HTML, msg.HTML+"\n")
	}
	// The long token line was wrapped with soft line breaks and "=" became
	// =3D on the wire, yet the token reads back whole.
	if raw := string(r.Data); !strings.Contains(raw, "token=3D") || !strings.Contains(raw, "=\r\n") {
		t.Errorf("raw message: want quoted-printable with =3D and soft line breaks; got\n%s", raw)
	}
	tok, err := r.LinkToken("/reset")
	if err != nil || tok != strings.Repeat("Tk_-", 30) {
		t.Errorf("LinkToken: got %q (err %v), want the full token", tok, err)
	}

	// A second message gets its own Message-ID.
	if err := s.Send(t.Context(), msg); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	r2, err := srv.WaitMessage(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Header.Get("Message-ID") == r.Header.Get("Message-ID") {
		t.Errorf("Message-ID: got %q twice, want a fresh one per message", r.Header.Get("Message-ID"))
	}
}

func TestSMTPStartTLS(t *testing.T) {
	t.Run("used when offered", func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithTLS())
		s := newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr(), TLSConfig: srv.ClientTLSConfig(), RequireTLS: true})
		if err := s.Send(t.Context(), testMessage()); err != nil {
			t.Fatalf("Send: %v", err)
		}
		r, err := srv.WaitMessage(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !r.TLS {
			t.Errorf("session TLS: got false, want the message sent after STARTTLS")
		}
	})
	t.Run("untrusted certificate fails, no downgrade", func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithTLS())
		s := newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr()}) // system roots: the test CA is unknown
		err := s.Send(t.Context(), testMessage())
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Errorf("Send: got %v, want a *tls.CertificateVerificationError", err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("server got %d messages, want 0: no clear-text fallback", n)
		}
	})
	t.Run("required but not offered", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		s := newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr(), RequireTLS: true})
		if err := s.Send(t.Context(), testMessage()); !errors.Is(err, mail.ErrTLSRequired) {
			t.Errorf("Send: got %v, want ErrTLSRequired", err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("server got %d messages, want 0", n)
		}
	})
}

func TestSMTPAuth(t *testing.T) {
	tests := []struct {
		name         string
		server       []mailtest.Option
		tls          bool
		user, pass   string
		wantErr      error // nil: success
		wantAnyErr   bool
		wantAuthUser string
	}{
		{name: "plain AUTH to localhost", server: []mailtest.Option{mailtest.WithAuth("relay", "s3cret")},
			user: "relay", pass: "s3cret", wantAuthUser: "relay"},
		{name: "AUTH after STARTTLS", server: []mailtest.Option{mailtest.WithTLS(), mailtest.WithAuth("relay", "s3cret")},
			tls: true, user: "relay", pass: "s3cret", wantAuthUser: "relay"},
		{name: "no username, no AUTH", server: []mailtest.Option{mailtest.WithAuth("relay", "s3cret")},
			wantAuthUser: ""},
		{name: "wrong password", server: []mailtest.Option{mailtest.WithAuth("relay", "s3cret")},
			user: "relay", pass: "nope", wantAnyErr: true},
		{name: "AUTH not offered", user: "relay", pass: "s3cret", wantErr: mail.ErrAuthUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.NewServer(t, tt.server...)
			cfg := mail.Config{SMTPAddr: srv.Addr(), Username: tt.user, Password: tt.pass}
			if tt.tls {
				cfg.TLSConfig = srv.ClientTLSConfig()
			}
			err := newSMTPSender(t, cfg).Send(t.Context(), testMessage())
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Send: got %v, want %v", err, tt.wantErr)
				}
			case tt.wantAnyErr:
				if err == nil {
					t.Fatalf("Send: got nil, want an error")
				}
				if strings.Contains(err.Error(), tt.pass) {
					t.Errorf("Send error %q contains the password", err)
				}
			case err != nil:
				t.Fatalf("Send: %v", err)
			}
			if tt.wantErr != nil || tt.wantAnyErr {
				if n := len(srv.Messages()); n != 0 {
					t.Errorf("server got %d messages, want 0", n)
				}
				return
			}
			r, err := srv.WaitMessage(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if r.AuthUser != tt.wantAuthUser {
				t.Errorf("AUTH user: got %q, want %q", r.AuthUser, tt.wantAuthUser)
			}
			if r.TLS != tt.tls {
				t.Errorf("TLS: got %v, want %v", r.TLS, tt.tls)
			}
		})
	}
}

// The password goes in clear text only to a server on this machine.
func TestSMTPAuthNeedsTLSOffLoopback(t *testing.T) {
	t.Run("clear text to another machine", func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithAuth("relay", "s3cret"))
		s := newSMTPSender(t, mail.Config{SMTPAddr: "mail.example.com:587", Username: "relay", Password: "s3cret", RequireTLS: false})
		mail.SetDialAddr(s, srv.Addr())
		err := s.Send(t.Context(), testMessage())
		if !errors.Is(err, mail.ErrAuthInsecure) {
			t.Fatalf("Send: got %v, want ErrAuthInsecure", err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("server got %d messages, want 0", n)
		}
	})
	t.Run("TLS to another machine", func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithTLS(), mailtest.WithAuth("relay", "s3cret"))
		tlsCfg := srv.ClientTLSConfig()
		tlsCfg.ServerName = "localhost" // the test certificate's name
		s := newSMTPSender(t, mail.Config{SMTPAddr: "mail.example.com:587", Username: "relay", Password: "s3cret", TLSConfig: tlsCfg})
		mail.SetDialAddr(s, srv.Addr())
		if err := s.Send(t.Context(), testMessage()); err != nil {
			t.Fatalf("Send: %v", err)
		}
		r, err := srv.WaitMessage(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !r.TLS || r.AuthUser != "relay" {
			t.Errorf("session: TLS %v, AUTH user %q; want TLS and relay", r.TLS, r.AuthUser)
		}
	})
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true,
		"": false, "mail.example.com": false, "10.0.0.1": false, "::": false, "localhost.example.com": false, "128.0.0.1": false,
	} {
		if got := mail.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestSMTPHeaderInjection(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr()})
	tests := []struct {
		name string
		edit func(*mail.Message)
	}{
		{"recipient", func(m *mail.Message) { m.To = "ada@example.org\r\nBcc: eve@example.net" }},
		{"recipient LF", func(m *mail.Message) { m.To = "ada@example.org\nBcc: eve@example.net" }},
		{"subject", func(m *mail.Message) { m.Subject = "Reset\r\nBcc: eve@example.net" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.edit(&m)
			if err := s.Send(t.Context(), m); !errors.Is(err, mail.ErrHeaderInjection) {
				t.Errorf("Send: got %v, want ErrHeaderInjection", err)
			}
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server got %d messages, want 0", n)
	}

	t.Run("sender", func(t *testing.T) {
		_, err := mail.NewSMTPSender(mail.Config{SMTPAddr: srv.Addr(), From: "authd@example.com\r\nBcc: eve@example.net"})
		if err == nil || !strings.Contains(err.Error(), "mail.from") {
			t.Errorf("NewSMTPSender: got %v, want an error naming mail.from", err)
		}
	})
}

func TestSMTPTimeouts(t *testing.T) {
	t.Run("server never speaks", func(t *testing.T) {
		s := newSMTPSender(t, mail.Config{SMTPAddr: silentListener(t), Timeout: 200 * time.Millisecond})
		err := s.Send(t.Context(), testMessage())
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Send: got %v, want a deadline-exceeded error", err)
		}
	})
	t.Run("context cancelled mid-conversation", func(t *testing.T) {
		s := newSMTPSender(t, mail.Config{SMTPAddr: silentListener(t), Timeout: time.Minute})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		if err := s.Send(ctx, testMessage()); !errors.Is(err, context.Canceled) {
			t.Errorf("Send: got %v, want context.Canceled", err)
		}
	})
	t.Run("context deadline shorter than timeout", func(t *testing.T) {
		s := newSMTPSender(t, mail.Config{SMTPAddr: silentListener(t), Timeout: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if err := s.Send(ctx, testMessage()); !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Send: got %v, want a deadline error", err)
		}
	})
	t.Run("server answers each command slowly", func(t *testing.T) {
		// Each answer comes well within the timeout, the conversation does
		// not: the bound is on the whole of it.
		const timeout = 600 * time.Millisecond
		s := newSMTPSender(t, mail.Config{SMTPAddr: slowServer(t, 200*time.Millisecond), Timeout: timeout})
		start := time.Now()
		err := s.Send(t.Context(), testMessage())
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Send: got %v, want a deadline-exceeded error", err)
		}
		if d := time.Since(start); d > timeout+time.Second {
			t.Errorf("Send took %s with a timeout of %s", d, timeout)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		s := newSMTPSender(t, mail.Config{SMTPAddr: closedAddr(t)})
		if err := s.Send(t.Context(), testMessage()); err == nil {
			t.Errorf("Send: got nil, want a dial error")
		}
	})
}

func TestConfig(t *testing.T) {
	t.Run("zero value is valid", func(t *testing.T) {
		if err := (mail.Config{}).Validate(); err != nil {
			t.Errorf("Validate: got %v, want nil", err)
		}
	})
	t.Run("every problem at once", func(t *testing.T) {
		err := mail.Config{SMTPAddr: "no-port", From: "not an address", Timeout: -time.Second}.Validate()
		for _, key := range []string{"mail.smtp_addr", "mail.from", "mail.timeout"} {
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("Validate: got %v, want a problem naming %s", err, key)
			}
		}
	})
	t.Run("NewSender picks by smtp_addr", func(t *testing.T) {
		s, err := mail.NewSender(mail.Config{}, nil)
		if _, ok := s.(*mail.LogSender); err != nil || !ok {
			t.Errorf("NewSender without smtp_addr: got %T (err %v), want *mail.LogSender", s, err)
		}
		s, err = mail.NewSender(mail.Config{SMTPAddr: "127.0.0.1:25"}, nil)
		if _, ok := s.(*mail.SMTPSender); err != nil || !ok {
			t.Errorf("NewSender with smtp_addr: got %T (err %v), want *mail.SMTPSender", s, err)
		}
	})
}
