package mail

import (
	"bytes"
	"errors"
	"mime"
	netmail "net/mail"
	"strings"
	"testing"
	"time"
)

var testDate = time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))

func mustAddr(t testing.TB, s string) *netmail.Address {
	t.Helper()
	a, err := parseAddress(s)
	if err != nil {
		t.Fatalf("parseAddress(%q): %v", s, err)
	}
	return a
}

func TestBuildMessageHeaders(t *testing.T) {
	from := mustAddr(t, "authd <authd@example.com>")
	data, err := buildMessage(from, Message{
		To:      "ada@example.org",
		Subject: "Réinitialisez votre mot de passe ✓",
		Text:    "line one\nline two with a very long token http://x.example/reset?token=" + strings.Repeat("A", 120) + "\n",
		HTML:    "<p>hi</p>",
	}, testDate, "<id@example.com>")
	if err != nil {
		t.Fatalf("buildMessage: %v", err)
	}
	for i, line := range bytes.Split(data, []byte("\r\n")) {
		if len(line) > 78 {
			t.Errorf("line %d: got %d characters, want at most 78: %q", i, len(line), line)
		}
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d: bare CR or LF in %q", i, line)
		}
		for _, c := range line {
			if c >= 0x80 {
				t.Errorf("line %d: got 8-bit byte %#x, want 7-bit only", i, c)
				break
			}
		}
	}

	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	tests := []struct{ header, want string }{
		{"Date", "Tue, 04 Mar 2025 05:06:07 +0100"},
		{"From", `"authd" <authd@example.com>`},
		{"To", "<ada@example.org>"},
		{"Message-ID", "<id@example.com>"},
		{"MIME-Version", "1.0"},
		{"Auto-Submitted", "auto-generated"},
	}
	for _, tt := range tests {
		if got := m.Header.Get(tt.header); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.header, got, tt.want)
		}
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subject != "Réinitialisez votre mot de passe ✓" {
		t.Errorf("Subject: got %q (err %v), want the original UTF-8 subject", subject, err)
	}
	if !strings.HasPrefix(m.Header.Get("Subject"), "=?utf-8?q?") {
		t.Errorf("Subject: got %q, want an RFC 2047 Q-encoded word", m.Header.Get("Subject"))
	}
}

func TestBuildMessageTextOnly(t *testing.T) {
	data, err := buildMessage(mustAddr(t, "a@example.com"), Message{To: "b@example.com", Subject: "Hi", Text: "hello"}, testDate, "<x@example.com>")
	if err != nil {
		t.Fatalf("buildMessage: %v", err)
	}
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if got, want := m.Header.Get("Content-Type"), "text/plain; charset=utf-8"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
	if got, want := m.Header.Get("Content-Transfer-Encoding"), "quoted-printable"; got != want {
		t.Errorf("Content-Transfer-Encoding: got %q, want %q", got, want)
	}
	if got, want := m.Header.Get("Subject"), "Hi"; got != want {
		t.Errorf("Subject: got %q, want %q (plain ASCII stays unencoded)", got, want)
	}
}

func TestCheckMessage(t *testing.T) {
	ok := Message{To: "ada@example.org", Subject: "s", Text: "t"}
	tests := []struct {
		name string
		edit func(*Message)
		want error
	}{
		{"valid", func(*Message) {}, nil},
		{"valid with name", func(m *Message) { m.To = "Ada Lovelace <ada@example.org>" }, nil},
		{"CRLF in to", func(m *Message) { m.To = "ada@example.org\r\nBcc: eve@example.net" }, ErrHeaderInjection},
		{"LF in to", func(m *Message) { m.To = "ada@example.org\nBcc: eve@example.net" }, ErrHeaderInjection},
		{"CR in subject", func(m *Message) { m.Subject = "hi\rBcc: eve@example.net" }, ErrHeaderInjection},
		{"LF in subject", func(m *Message) { m.Subject = "hi\nBcc: eve@example.net" }, ErrHeaderInjection},
		{"two recipients", func(m *Message) { m.To = "ada@example.org, eve@example.net" }, ErrInvalidMessage},
		{"not an address", func(m *Message) { m.To = "ada" }, ErrInvalidMessage},
		{"empty to", func(m *Message) { m.To = "" }, ErrInvalidMessage},
		{"non-ASCII address", func(m *Message) { m.To = "zoë@example.org" }, ErrInvalidMessage},
		{"empty text", func(m *Message) { m.Text = " \n" }, ErrInvalidMessage},
		{"long subject", func(m *Message) { m.Subject = strings.Repeat("é", 200) }, ErrInvalidMessage},
		{"invalid UTF-8", func(m *Message) { m.Text = "\xff" }, ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.edit(&m)
			_, err := checkMessage(m)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("checkMessage: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRedactTokens(t *testing.T) {
	tests := []struct{ in, want string }{
		{"open http://x/reset?token=abc.DEF_-123 now", "open http://x/reset?token=REDACTED now"},
		{"http://x/v?a=1&token=abc&b=2", "http://x/v?a=1&token=REDACTED&b=2"},
		{"http://x/v?token=abc#frag", "http://x/v?token=REDACTED#frag"},
		{`<a href="http://x/v?a=1&amp;token=abc">`, `<a href="http://x/v?a=1&amp;token=REDACTED">`},
		{"two: http://x/a?token=one\nhttp://x/b?token=two\n", "two: http://x/a?token=REDACTED\nhttp://x/b?token=REDACTED\n"},
		{"http://x/v?mytoken=abc", "http://x/v?mytoken=abc"},
		{"no links here", "no links here"},
	}
	for _, tt := range tests {
		if got := redactTokens(tt.in); got != tt.want {
			t.Errorf("redactTokens(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{time.Hour, "1 hour"},
		{48 * time.Hour, "48 hours"},
		{30 * time.Minute, "30 minutes"},
		{90 * time.Minute, "90 minutes"},
		{time.Minute, "1 minute"},
		{45 * time.Second, "45 seconds"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%s): got %q, want %q", tt.d, got, tt.want)
		}
	}
}

// FuzzBuildMessage holds the header-injection guarantee for any recipient
// and subject: either the message is refused, or it parses back to exactly
// the headers we meant, with no header the input smuggled in.
func FuzzBuildMessage(f *testing.F) {
	f.Add("ada@example.org", "Reset your password", "body http://x/?token=a")
	f.Add("ada@example.org\r\nBcc: eve@example.net", "s", "b")
	f.Add("a@b", "hi\nBcc: eve@example.net", "b")
	f.Add(`"Eve\r\nBcc: x" <a@b>`, "s", "b")
	f.Add("Zoë <zoe@example.org>", "Grüße ✓ "+strings.Repeat("x", 100), ".\r\n.\n..")
	f.Add("a@b", "=?utf-8?q?abc?=", "b")
	from := mustAddr(f, "authd@example.com")
	f.Fuzz(func(t *testing.T, to, subject, text string) {
		data, err := buildMessage(from, Message{To: to, Subject: subject, Text: text, HTML: "<p>x</p>"}, testDate, "<id@example.com>")
		if err != nil {
			if !errors.Is(err, ErrHeaderInjection) && !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("buildMessage: got error %v, want ErrHeaderInjection or ErrInvalidMessage", err)
			}
			return
		}
		m, err := netmail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("ReadMessage of our own message: %v\n%s", err, data)
		}
		want := map[string]bool{"Date": true, "From": true, "To": true, "Subject": true, "Message-Id": true,
			"Mime-Version": true, "Auto-Submitted": true, "Content-Type": true}
		for k, v := range m.Header {
			if !want[k] {
				t.Fatalf("header %q smuggled in (to %q, subject %q)", k, to, subject)
			}
			if len(v) != 1 {
				t.Fatalf("header %q: got %d values, want 1", k, len(v))
			}
		}
		addr, err := m.Header.AddressList("To")
		if err != nil || len(addr) != 1 {
			t.Fatalf("To: got %v (err %v), want one address", addr, err)
		}
		if wantAddr := mustAddr(t, to).Address; addr[0].Address != wantAddr {
			t.Fatalf("To: got %q, want %q", addr[0].Address, wantAddr)
		}
		if !strings.Contains(subject, "=?") {
			var dec mime.WordDecoder
			got, err := dec.DecodeHeader(m.Header.Get("Subject"))
			// Header parsing drops the spaces around a value.
			if err != nil || strings.Trim(got, " \t") != strings.Trim(subject, " \t") {
				t.Fatalf("Subject: got %q (err %v), want %q", got, err, subject)
			}
		}
	})
}
