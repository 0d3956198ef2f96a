package mail_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authd/authd/mail"
)

func TestLogSender(t *testing.T) {
	const token = "s3cr3t-T0ken_value"
	msg := mail.Message{
		To:      "ada@example.org",
		Subject: "Reset your password",
		Text:    "Open http://localhost:8080/reset?token=" + token + "&lang=en to continue.\n",
		HTML:    `<a href="http://localhost:8080/reset?token=` + token + `">x</a>`,
	}
	tests := []struct {
		name      string
		logLinks  bool
		wantToken bool
	}{
		{"redacted by default", false, false},
		{"log_links shows the link", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs, log := newLog()
			s, err := mail.NewSender(mail.Config{LogLinks: tt.logLinks}, log)
			if err != nil {
				t.Fatalf("NewSender: %v", err)
			}
			if err := s.Send(t.Context(), msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			out := logs.String()
			for _, want := range []string{`"event":"mail.logged"`, `"to":"ada@example.org"`, `"subject":"Reset your password"`, "lang=en to continue"} {
				if !strings.Contains(out, want) {
					t.Errorf("log: want %s in\n%s", want, out)
				}
			}
			if got := strings.Contains(out, token); got != tt.wantToken {
				t.Errorf("log contains the token: got %v, want %v\n%s", got, tt.wantToken, out)
			}
			if !tt.wantToken && !strings.Contains(out, "token="+mail.Redacted+"&lang=en") {
				t.Errorf("log: want token=%s in place of the token\n%s", mail.Redacted, out)
			}
		})
	}

	t.Run("refuses what SMTP would refuse", func(t *testing.T) {
		logs, log := newLog()
		bad := msg
		bad.To = "ada@example.org\r\nBcc: eve@example.net"
		if err := mail.NewLogSender(log, false).Send(t.Context(), bad); !errors.Is(err, mail.ErrHeaderInjection) {
			t.Errorf("Send: got %v, want ErrHeaderInjection", err)
		}
		if out := logs.String(); out != "" {
			t.Errorf("log: got %q, want nothing for a refused message", out)
		}
	})
}
