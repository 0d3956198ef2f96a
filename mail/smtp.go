package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/smtp"
	"strings"
	"time"
)

// SMTPSender delivers mail to one SMTP server (RFC 5321), one connection per
// message. It is safe for concurrent use.
type SMTPSender struct {
	cfg  Config
	host string
	from *netmail.Address
	tls  *tls.Config
}

// NewSMTPSender checks cfg and returns a sender for cfg.SMTPAddr. It does
// not connect: a server that is down at start-up must not stop authd.
func NewSMTPSender(cfg Config) (*SMTPSender, error) {
	cfg = cfg.withDefaults()
	if cfg.SMTPAddr == "" {
		return nil, errors.New("mail.smtp_addr: must be set for the SMTP sender")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(cfg.SMTPAddr) // checked by Validate
	from, _ := parseAddress(cfg.From)             // checked by Validate

	var tlsCfg *tls.Config
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
	} else {
		tlsCfg = &tls.Config{}
	}
	if tlsCfg.ServerName == "" {
		// Verify the certificate against the name we dialled, so a
		// man in the middle cannot answer STARTTLS with any valid cert.
		tlsCfg.ServerName = host
	}
	if tlsCfg.MinVersion < tls.VersionTLS12 {
		tlsCfg.MinVersion = tls.VersionTLS12
	}
	return &SMTPSender{cfg: cfg, host: host, from: from, tls: tlsCfg}, nil
}

// Send delivers m in one SMTP conversation bounded by Config.Timeout and
// ctx: EHLO, STARTTLS when offered (or required), AUTH PLAIN when a
// username is configured, MAIL, RCPT, DATA, QUIT.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	to, err := checkMessage(m)
	if err != nil {
		return err
	}
	data, err := buildMessage(s.from, m, s.cfg.Now(), newMessageID(s.from))
	if err != nil {
		return err
	}
	if err := s.send(ctx, to.Address, data); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("mail: smtp %s: %w (%w)", s.cfg.SMTPAddr, ctx.Err(), err)
		}
		return fmt.Errorf("mail: smtp %s: %w", s.cfg.SMTPAddr, err)
	}
	return nil
}

func (s *SMTPSender) send(ctx context.Context, rcpt string, data []byte) error {
	deadline := time.Now().Add(s.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dialer := net.Dialer{Deadline: deadline}
	conn, err := dialer.DialContext(ctx, "tcp", s.cfg.SMTPAddr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	// One deadline for the whole conversation: a server that accepts and
	// then stalls (or trickles bytes) cannot hold a worker past Timeout.
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return fmt.Errorf("set deadline: %w", err)
	}
	// Cancelling ctx interrupts any read or write in progress.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}

	// RFC 3207: once the server offers STARTTLS we use it, and a failed
	// handshake (bad certificate, wrong name) aborts the send: falling back
	// to clear text would let an attacker force the downgrade.
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(s.tls); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	} else if s.cfg.RequireTLS {
		return ErrTLSRequired
	}

	if s.cfg.Username != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok || !hasWord(mechs, "PLAIN") {
			return ErrAuthUnsupported
		}
		// smtp.PlainAuth refuses to send the password unless the
		// connection is TLS or the host is localhost.
		auth := smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)
		if err := c.Auth(auth); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}

	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	// The DATA writer dot-stuffs lines that start with "." (RFC 5321
	// §4.5.2).
	if _, err := w.Write(data); err != nil {
		w.Close()
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	// The server has accepted the message; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// hasWord reports whether the space-separated list holds w, ignoring case
// (SMTP keywords are case-insensitive, RFC 5321 §2.4).
func hasWord(list, w string) bool {
	for _, word := range strings.Fields(list) {
		if strings.EqualFold(word, w) {
			return true
		}
	}
	return false
}
