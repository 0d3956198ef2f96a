// Package mail sends authd's account mails: password-reset links and
// email-verification links.
//
// A Mailer renders a mail from the templates in package web and hands it to
// a Sender. On the request path it only enqueues (Mailer.Send never blocks
// and never waits on the network); workers started by Mailer.Run deliver in
// the background, so a slow or broken mail server costs a log line, not a
// request. Two Senders exist: SMTPSender speaks SMTP to the server in
// Config.SMTPAddr (STARTTLS whenever offered), and LogSender, used when no
// server is configured, writes the mail to the log with its token redacted.
//
// Links carry single-use tokens that grant control of an account, so no log
// line of this package contains a link or token, except LogSender's when
// Config.LogLinks is set for local development.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrHeaderInjection means a header value (recipient, subject, sender)
	// holds a CR or LF, which would let its author add headers or a body
	// of their own.
	ErrHeaderInjection = errors.New("mail: line break in header value")
	// ErrInvalidMessage means a message cannot be sent as it is: a bad
	// address, an empty body, an overlong subject.
	ErrInvalidMessage = errors.New("mail: invalid message")
	// ErrTLSRequired means Config.RequireTLS is set and the server did not
	// offer STARTTLS.
	ErrTLSRequired = errors.New("mail: server does not offer STARTTLS and TLS is required (mail.require_tls); mail not sent")
	// ErrAuthInsecure means Config.Username is set but the session is in
	// clear text to a server on another machine: the password is not sent.
	ErrAuthInsecure = errors.New("mail: not sending the SMTP password in clear text to a server that is not on this machine")
	// ErrAuthUnsupported means Config.Username is set and the server does
	// not offer AUTH PLAIN.
	ErrAuthUnsupported = errors.New("mail: server does not offer AUTH PLAIN")
	// ErrQueueFull means the Mailer's queue had no room; the mail was
	// dropped.
	ErrQueueFull = errors.New("mail: queue full, mail dropped")
	// ErrStopped means the Mailer's Run has returned; nothing delivers any
	// more.
	ErrStopped = errors.New("mail: mailer stopped")
)

// Message is one mail ready to send. Text is required; HTML, when set, is
// sent as the preferred alternative (RFC 2046 §5.1.4).
type Message struct {
	To      string // one address, "a@example.com" or "Name <a@example.com>"
	Subject string // UTF-8; encoded per RFC 2047 when not plain ASCII
	Text    string // text/plain body, UTF-8
	HTML    string // text/html body, UTF-8; optional
}

// Sender delivers one message. Implementations are safe for concurrent use.
type Sender interface {
	// Send delivers m or returns why it could not. ctx bounds the attempt.
	Send(ctx context.Context, m Message) error
}

// Config is the mail.* section of authd's configuration.
type Config struct {
	// SMTPAddr is host:port of the SMTP server (submission, usually port
	// 587). Default "": no server, mails go to the log (see LogLinks).
	SMTPAddr string
	// From is the envelope sender and From header, a bare address or
	// "Name <address>". Default "authd@localhost".
	From string
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN (RFC 4616). The credentials are only sent over TLS or to a
	// server on localhost. Default "".
	Username string
	Password string
	// Timeout bounds one SMTP conversation, from dial to QUIT. Default 10s.
	Timeout time.Duration
	// RequireTLS refuses to send unless the server offers STARTTLS: the
	// send fails with ErrTLSRequired, which the Mailer logs. Without it, a
	// server that offers no STARTTLS gets the mail in clear text; an
	// attacker on the path who strips the offer can read it. Default
	// false here; authd's mail.require_tls turns it on unless the server
	// is on this machine.
	RequireTLS bool
	// TLSConfig verifies the server during STARTTLS, for a private CA or a
	// test server (set RootCAs). ServerName is taken from SMTPAddr when
	// empty. Default nil: the system roots.
	TLSConfig *tls.Config
	// HelloName is the name this client gives in EHLO. Default "localhost".
	HelloName string
	// LogLinks makes the log sender (no SMTPAddr) write bodies with their
	// tokens intact: for local development only. Default false: every
	// token query parameter reads REDACTED.
	LogLinks bool
	// Now is the clock for the Date header. Default time.Now.
	Now func() time.Time
}

// Defaults of the Config fields the zero value leaves empty.
const (
	DefaultFrom      = "authd@localhost"
	DefaultTimeout   = 10 * time.Second
	DefaultHelloName = "localhost"
)

// withDefaults fills the fields left zero.
func (c Config) withDefaults() Config {
	if c.From == "" {
		c.From = DefaultFrom
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HelloName == "" {
		c.HelloName = DefaultHelloName
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every problem in c at once, each naming its mail.* key.
// Zero values are valid: they take the documented defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("mail.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.SMTPAddr != "" {
		host, port, err := net.SplitHostPort(c.SMTPAddr)
		if err != nil || host == "" || port == "" {
			add("smtp_addr", "must be host:port, got %q", c.SMTPAddr)
		}
	}
	if _, err := parseAddress(c.From); err != nil {
		add("from", "%v", err)
	}
	if c.Timeout < 0 {
		add("timeout", "must not be negative, got %s", c.Timeout)
	}
	if strings.ContainsAny(c.HelloName, " \t\r\n") {
		add("hello_name", "must be a host name, got %q", c.HelloName)
	}
	return errors.Join(errs...)
}

// NewSender returns the Sender cfg describes: an SMTPSender when
// cfg.SMTPAddr is set, a LogSender writing to log otherwise.
func NewSender(cfg Config, log *slog.Logger) (Sender, error) {
	if cfg.SMTPAddr == "" {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		return NewLogSender(log, cfg.LogLinks), nil
	}
	return NewSMTPSender(cfg)
}
