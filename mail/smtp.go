package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPSender delivers mail to one SMTP server (RFC 5321), one connection per
// message. It is safe for concurrent use.
type SMTPSender struct {
	cfg  Config
	host string
	from *netmail.Address
	tls  *tls.Config

	// dialAddr, when set, is where the sender connects instead of
	// cfg.SMTPAddr, whose host stays the name it checks: for tests.
	dialAddr string
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
// username is configured (only over TLS or to a server on this machine),
// MAIL, RCPT, DATA, QUIT.
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
	c, err := s.connect(ctx, deadline)
	if err != nil {
		return err
	}
	defer c.Close()

	if s.cfg.Username != "" {
		// PLAIN sends the password as it is: only inside TLS, or to a
		// server on this machine.
		if _, isTLS := c.TLSConnectionState(); !isTLS && !isLoopback(s.host) {
			return ErrAuthInsecure
		}
		if !c.SupportsAuth(sasl.Plain) {
			return ErrAuthUnsupported
		}
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}

	if err := c.Mail(s.from.Address, nil); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
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

// errNoStartTLS is what go-smtp's NewClientStartTLS returns when the
// server does not offer STARTTLS.
const errNoStartTLS = "smtp: server doesn't support STARTTLS"

// connect opens the SMTP session the message goes through, ready for AUTH
// or MAIL: it dials, greets, and upgrades with STARTTLS (RFC 3207) when the
// server offers it. Once offered, STARTTLS is used, and a failed handshake
// (bad certificate, wrong name) fails the send: falling back to clear text
// would let an attacker force the downgrade. A server that does not offer
// it gets the mail in clear text on a second connection, unless
// Config.RequireTLS refuses with ErrTLSRequired.
func (s *SMTPSender) connect(ctx context.Context, deadline time.Time) (*smtp.Client, error) {
	conn, err := s.dial(ctx, deadline)
	if err != nil {
		return nil, err
	}
	c, err := smtp.NewClientStartTLS(conn, s.tls)
	switch {
	case err != nil && err.Error() == errNoStartTLS:
		if s.cfg.RequireTLS {
			return nil, ErrTLSRequired
		}
		conn, err := s.dial(ctx, deadline)
		if err != nil {
			return nil, err
		}
		c = s.newClient(conn)
		if err := c.Hello(s.cfg.HelloName); err != nil {
			c.Close()
			return nil, fmt.Errorf("ehlo: %w", err)
		}
		return c, nil
	case err != nil:
		conn.Close()
		return nil, fmt.Errorf("starttls: %w", err)
	}
	s.setTimeouts(c)
	// The handshake runs with the first command after STARTTLS: this EHLO,
	// which RFC 3207 §4.2 requires anyway.
	if err := c.Hello(s.cfg.HelloName); err != nil {
		c.Close()
		return nil, fmt.Errorf("starttls: %w", err)
	}
	return c, nil
}

// dial connects to the server. Every read and write on the connection ends
// by deadline, or as soon as ctx is cancelled.
func (s *SMTPSender) dial(ctx context.Context, deadline time.Time) (net.Conn, error) {
	dialer := net.Dialer{Deadline: deadline}
	addr := s.cfg.SMTPAddr
	if s.dialAddr != "" {
		addr = s.dialAddr
	}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	bc := &boundedConn{Conn: conn, deadline: deadline}
	if err := bc.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	// Cancelling ctx interrupts any read or write in progress, and every
	// later one.
	stop := context.AfterFunc(ctx, bc.cancel)
	bc.stop = stop
	return bc, nil
}

// newClient starts a client on conn (greeting not yet read).
func (s *SMTPSender) newClient(conn net.Conn) *smtp.Client {
	c := smtp.NewClient(conn)
	s.setTimeouts(c)
	return c
}

// setTimeouts bounds each command by Config.Timeout; the connection bounds
// the whole conversation.
func (s *SMTPSender) setTimeouts(c *smtp.Client) {
	c.CommandTimeout = s.cfg.Timeout
	c.SubmissionTimeout = s.cfg.Timeout
}

// boundedConn is a connection whose deadline never passes a fixed one,
// whatever its user sets: the SMTP client sets a deadline per command (and
// clears it after), and one conversation must still end by Config.Timeout,
// so a server that accepts and then stalls, or trickles bytes, cannot hold
// a worker longer. After cancel, every deadline is in the past.
type boundedConn struct {
	net.Conn
	deadline time.Time
	stop     func() bool

	mu        sync.Mutex
	cancelled bool
}

func (c *boundedConn) bound(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancelled {
		return time.Unix(1, 0)
	}
	if t.IsZero() || t.After(c.deadline) {
		return c.deadline
	}
	return t
}

func (c *boundedConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.bound(t)) }
func (c *boundedConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.bound(t)) }
func (c *boundedConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.bound(t)) }

func (c *boundedConn) cancel() {
	c.mu.Lock()
	c.cancelled = true
	c.mu.Unlock()
	c.Conn.SetDeadline(time.Unix(1, 0))
}

func (c *boundedConn) Close() error {
	if c.stop != nil {
		c.stop()
	}
	return c.Conn.Close()
}

// isLoopback reports whether host (of host:port) is this machine:
// "localhost" or an address in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
