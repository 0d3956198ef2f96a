package mail_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/mail"
	"github.com/authd/authd/mail/mailtest"
)

// startMailer runs m until the test ends.
func startMailer(t *testing.T, m *mail.Mailer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func newMailer(t *testing.T, s mail.Sender, log *slog.Logger, opts mail.Options) *mail.Mailer {
	t.Helper()
	opts.Logger = log
	m, err := mail.NewMailer(s, opts)
	if err != nil {
		t.Fatalf("NewMailer: %v", err)
	}
	return m
}

func TestMailerEndToEnd(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithTLS())
	logs, log := newLog()
	m := newMailer(t, newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr(), TLSConfig: srv.ClientTLSConfig()}), log, mail.Options{})
	startMailer(t, m)

	tests := []struct {
		kind        mail.Kind
		path        string
		validFor    time.Duration
		wantSubject string
		wantText    []string
	}{
		{mail.PasswordReset, "/account/password/reset", time.Hour, "Reset your password",
			[]string{"Hello Ada,", "within 1 hour", "ignore this email"}},
		{mail.EmailVerification, "/account/email/verify", 48 * time.Hour, "Confirm your email address",
			[]string{"Hello,", "within 48 hours"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			token := "tok_" + strings.Repeat("x9-", 20) + string(tt.kind)
			link := "http://localhost:8080" + tt.path + "?token=" + token
			err := m.Send(t.Context(), tt.kind, "ada@example.org", mail.Data{Link: link, ValidFor: tt.validFor, Name: "Ada", Verified: true})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			r, err := srv.WaitMessage(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject != tt.wantSubject {
				t.Errorf("Subject: got %q, want %q", r.Subject, tt.wantSubject)
			}
			for _, want := range tt.wantText {
				if !strings.Contains(r.Text, want) {
					t.Errorf("text: want %q in\n%s", want, r.Text)
				}
			}
			got, err := r.LinkToken(tt.path)
			if err != nil || got != token {
				t.Errorf("LinkToken: got %q (err %v), want %q", got, err, token)
			}
			if !strings.Contains(r.HTML, `href="`+link+`"`) || !strings.Contains(r.HTML, "<title>"+tt.wantSubject+"</title>") {
				t.Errorf("html: want the link and the title in\n%s", r.HTML)
			}
			if !r.TLS {
				t.Errorf("TLS: got false, want STARTTLS used")
			}
			logs.waitFor(t, `"kind":"`+string(tt.kind)+`"`)
			if out := logs.String(); strings.Contains(out, token) {
				t.Errorf("log contains the token:\n%s", out)
			}
		})
	}
	logs.waitFor(t, `"event":"mail.sent"`)
}

// With RequireTLS (mail.require_tls), a server that offers no STARTTLS
// gets nothing, and the log says why.
func TestMailerRequireTLS(t *testing.T) {
	for _, offer := range []bool{false, true} {
		t.Run(fmt.Sprintf("STARTTLS offered %v", offer), func(t *testing.T) {
			var opts []mailtest.Option
			if offer {
				opts = append(opts, mailtest.WithTLS())
			}
			srv := mailtest.NewServer(t, opts...)
			logs, log := newLog()
			s := newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr(), TLSConfig: srv.ClientTLSConfig(), RequireTLS: true})
			m := newMailer(t, s, log, mail.Options{})
			startMailer(t, m)
			if err := m.Send(t.Context(), mail.PasswordReset, "ada@example.org", mail.Data{Link: "http://x/?token=secret-token"}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if offer {
				r, err := srv.WaitMessage(5 * time.Second)
				if err != nil || !r.TLS {
					t.Fatalf("message: TLS %v, %v; want one sent over TLS", r.TLS, err)
				}
				return
			}
			logs.waitFor(t, `"event":"mail.failed"`)
			out := logs.String()
			for _, want := range []string{`"level":"ERROR"`, "does not offer STARTTLS", "mail.require_tls", "mail not sent", srv.Addr()} {
				if !strings.Contains(out, want) {
					t.Errorf("log: want %q in\n%s", want, out)
				}
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server got %d messages, want 0", n)
			}
		})
	}
}

// A mail to an address nobody has verified may reach a stranger: it must
// not carry text the account's owner typed, such as a first name that is
// really an advertisement.
func TestMailsToUnverifiedAddressesCarryNoUserText(t *testing.T) {
	m := newMailer(t, mail.NewLogSender(nil, false), nil, mail.Options{})
	const spam = "Visit evil.example to claim your prize"
	tests := []struct {
		name     string
		kind     mail.Kind
		verified bool
		wantName bool
	}{
		{"verification", mail.EmailVerification, false, false},
		{"verification, verified flag set", mail.EmailVerification, true, false},
		{"reset to an unverified address", mail.PasswordReset, false, false},
		{"reset to a verified address", mail.PasswordReset, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := m.Render(tt.kind, "ada@example.org", mail.Data{Link: "http://x/?token=a", Name: spam, Verified: tt.verified})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			for part, body := range map[string]string{"subject": msg.Subject, "text": msg.Text, "html": msg.HTML} {
				if got := strings.Contains(body, "evil.example"); got != (tt.wantName && part != "subject") {
					t.Errorf("%s holds the name: %v, want %v\n%s", part, got, tt.wantName && part != "subject", body)
				}
			}
			if !tt.wantName && !strings.Contains(msg.Text, "Hello,") {
				t.Errorf("text: want the greeting without a name in\n%s", msg.Text)
			}
		})
	}
}

func TestMailerSendRefusesBadInput(t *testing.T) {
	m := newMailer(t, mail.NewLogSender(nil, false), nil, mail.Options{})
	tests := []struct {
		name string
		kind mail.Kind
		to   string
		link string
		want error
	}{
		{"unknown kind", "welcome", "ada@example.org", "http://x/?token=a", mail.ErrInvalidMessage},
		{"no link", mail.PasswordReset, "ada@example.org", "", mail.ErrInvalidMessage},
		{"bad address", mail.PasswordReset, "ada", "http://x/?token=a", mail.ErrInvalidMessage},
		{"header injection", mail.EmailVerification, "ada@example.org\r\nBcc: eve@example.net", "http://x/?token=a", mail.ErrHeaderInjection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Send(t.Context(), tt.kind, tt.to, mail.Data{Link: tt.link}); !errors.Is(err, tt.want) {
				t.Errorf("Send: got %v, want %v", err, tt.want)
			}
			if err := m.Deliver(t.Context(), tt.kind, tt.to, mail.Data{Link: tt.link}); !errors.Is(err, tt.want) {
				t.Errorf("Deliver: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMailerQueueFullDrops(t *testing.T) {
	srv := mailtest.NewServer(t)
	logs, log := newLog()
	// Not running: nothing takes mail off the queue, so the second Send
	// finds it full. It must return at once rather than wait for room.
	m := newMailer(t, newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr()}), log, mail.Options{QueueSize: 1})
	const token = "dropped-token-value"
	d := mail.Data{Link: "http://localhost:8080/account/password/reset?token=" + token}
	if err := m.Send(t.Context(), mail.PasswordReset, "ada@example.org", d); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	if err := m.Send(t.Context(), mail.PasswordReset, "bob@example.org", d); !errors.Is(err, mail.ErrQueueFull) {
		t.Fatalf("second Send: got %v, want ErrQueueFull", err)
	}
	out := logs.String()
	if !strings.Contains(out, `"event":"mail.dropped"`) || !strings.Contains(out, `"to":"bob@example.org"`) {
		t.Errorf("log: want event=mail.dropped for bob@example.org in\n%s", out)
	}
	if strings.Contains(out, token) {
		t.Errorf("log contains the token:\n%s", out)
	}

	// Once running, the queued mail goes out and the queue has room again.
	startMailer(t, m)
	r, err := srv.WaitMessage(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.To; len(got) != 1 || got[0] != "ada@example.org" {
		t.Errorf("RCPT TO: got %q, want the first, queued mail", got)
	}
}

func TestMailerFailureIsLoggedWithoutLink(t *testing.T) {
	logs, log := newLog()
	m := newMailer(t, newSMTPSender(t, mail.Config{SMTPAddr: closedAddr(t)}), log, mail.Options{})
	startMailer(t, m)
	const token = "failed-token-value"
	link := "http://localhost:8080/account/email/verify?token=" + token
	if err := m.Send(t.Context(), mail.EmailVerification, "ada@example.org", mail.Data{Link: link}); err != nil {
		t.Fatalf("Send: got %v, want nil: delivery errors never reach the caller", err)
	}
	logs.waitFor(t, `"event":"mail.failed"`)
	out := logs.String()
	for _, want := range []string{`"kind":"verify"`, `"to":"ada@example.org"`, `"error":"mail: smtp `} {
		if !strings.Contains(out, want) {
			t.Errorf("log: want %s in\n%s", want, out)
		}
	}
	for _, secret := range []string{token, link, "/account/email/verify"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	if err := m.Deliver(t.Context(), mail.EmailVerification, "ada@example.org", mail.Data{Link: link}); err == nil {
		t.Errorf("Deliver: got nil, want the dial error")
	}
}

func TestMailerThroughLogSender(t *testing.T) {
	const token = "log-sender-token"
	for _, logLinks := range []bool{false, true} {
		t.Run(fmt.Sprintf("log_links=%v", logLinks), func(t *testing.T) {
			logs, log := newLog()
			s, err := mail.NewSender(mail.Config{LogLinks: logLinks}, log)
			if err != nil {
				t.Fatalf("NewSender: %v", err)
			}
			m := newMailer(t, s, log, mail.Options{})
			d := mail.Data{Link: "http://localhost:8080/account/password/reset?token=" + token, ValidFor: time.Hour}
			if err := m.Deliver(t.Context(), mail.PasswordReset, "ada@example.org", d); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			out := logs.String()
			if !strings.Contains(out, `"event":"mail.logged"`) || !strings.Contains(out, "Reset your password") {
				t.Errorf("log: want the logged mail in\n%s", out)
			}
			if got := strings.Contains(out, token); got != logLinks {
				t.Errorf("log contains the token: got %v, want %v\n%s", got, logLinks, out)
			}
		})
	}
}

func TestMailerShutdown(t *testing.T) {
	d := mail.Data{Link: "http://localhost:8080/account/password/reset?token=t"}

	t.Run("drains queued mail", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		m := newMailer(t, newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr()}), nil, mail.Options{Workers: 1})
		for i := range 3 {
			if err := m.Send(t.Context(), mail.PasswordReset, fmt.Sprintf("u%d@example.org", i), d); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // shutdown before Run even starts: everything queued drains
		if err := m.Run(ctx); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n := len(srv.Messages()); n != 3 {
			t.Errorf("delivered: got %d, want 3", n)
		}
		if err := m.Send(t.Context(), mail.PasswordReset, "late@example.org", d); !errors.Is(err, mail.ErrStopped) {
			t.Errorf("Send after Run: got %v, want ErrStopped", err)
		}
		if err := m.Run(t.Context()); err == nil {
			t.Errorf("second Run: got nil, want an error")
		}
	})

	t.Run("abandons with a negative drain timeout", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		logs, log := newLog()
		m := newMailer(t, newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr()}), log, mail.Options{DrainTimeout: -1})
		for i := range 2 {
			if err := m.Send(t.Context(), mail.PasswordReset, fmt.Sprintf("u%d@example.org", i), d); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := m.Run(ctx); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("delivered: got %d, want 0", n)
		}
		if out := logs.String(); !strings.Contains(out, `"event":"mail.abandoned"`) || !strings.Contains(out, `"count":2`) {
			t.Errorf("log: want event=mail.abandoned count=2 in\n%s", out)
		}
	})

	t.Run("drain is bounded by DrainTimeout", func(t *testing.T) {
		logs, log := newLog()
		// Every delivery hangs on a silent server for up to a minute; the
		// drain must give up when its 100ms are over, not a minute later.
		s := newSMTPSender(t, mail.Config{SMTPAddr: silentListener(t), Timeout: time.Minute})
		m := newMailer(t, s, log, mail.Options{Workers: 1, DrainTimeout: 100 * time.Millisecond})
		for i := range 3 {
			if err := m.Send(t.Context(), mail.PasswordReset, fmt.Sprintf("u%d@example.org", i), d); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := m.Run(ctx); err != nil {
			t.Fatalf("Run: %v", err)
		}
		out := logs.String()
		if !strings.Contains(out, `"event":"mail.failed"`) || !strings.Contains(out, `"event":"mail.abandoned"`) {
			t.Errorf("log: want the in-flight mail failed and the rest abandoned\n%s", out)
		}
	})
}

func TestMailerConcurrentSend(t *testing.T) {
	srv := mailtest.NewServer(t)
	m := newMailer(t, newSMTPSender(t, mail.Config{SMTPAddr: srv.Addr()}), nil, mail.Options{QueueSize: 50})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := mail.Data{Link: fmt.Sprintf("http://localhost:8080/v?token=%d", i)}
			if err := m.Send(t.Context(), mail.EmailVerification, fmt.Sprintf("u%d@example.org", i), d); err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	cancel() // whatever is still queued drains before Run returns
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := len(srv.Messages()); got != n {
		t.Errorf("delivered: got %d, want %d", got, n)
	}
}
