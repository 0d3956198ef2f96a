// Package mailtest runs a real SMTP server in-process on loopback for tests:
// it records every message it receives, parses it (headers, RFC 2047
// subject, MIME parts with their transfer encodings undone), and reads the
// token out of a mailed link.
//
//	srv := mailtest.NewServer(t)
//	// point mail.Config.SMTPAddr at srv.Addr(), trigger a mail, then:
//	msg, err := srv.WaitMessage(5 * time.Second)
//	token, err := msg.LinkToken("/reset-password")
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message as the server got it.
type Received struct {
	From     string   // envelope sender (MAIL FROM)
	To       []string // envelope recipients (RCPT TO)
	Data     []byte   // the message exactly as sent after DATA
	TLS      bool     // the session ran over STARTTLS
	AuthUser string   // the username that authenticated, "" if none

	Header  netmail.Header // top-level headers, raw (RFC 2047 words still encoded)
	Subject string         // Subject, RFC 2047 decoded
	Parts   []Part         // the leaf MIME parts in order; one for a non-multipart message
	Text    string         // the first text/plain part, decoded
	HTML    string         // the first text/html part, decoded
}

// Part is one leaf MIME part.
type Part struct {
	Header textproto.MIMEHeader // as sent, Content-Transfer-Encoding included
	Body   string               // transfer encoding undone (quoted-printable, base64)
}

// Server is an in-process SMTP server on 127.0.0.1. Its methods are safe for
// concurrent use.
type Server struct {
	t         testing.TB
	srv       *smtp.Server
	addr      string
	clientTLS *tls.Config
	user      string
	pass      string

	mu      sync.Mutex
	msgs    []Received
	next    int           // index of the next message WaitMessage returns
	arrived chan struct{} // closed and replaced on every new message
	closed  bool
}

// Option configures a Server.
type Option func(*Server)

// WithTLS makes the server offer STARTTLS with a self-signed certificate
// for 127.0.0.1, ::1 and localhost, generated in memory. Clients trust it
// through ClientTLSConfig.
func WithTLS() Option {
	return func(s *Server) {
		serverCfg, clientCfg, err := selfSigned()
		if err != nil {
			s.t.Fatalf("mailtest: generate certificate: %v", err)
		}
		s.srv.TLSConfig = serverCfg
		s.clientTLS = clientCfg
	}
}

// WithAuth makes the server offer AUTH PLAIN and accept only this username
// and password. It advertises AUTH without TLS too (the server is on
// loopback); mail without AUTH is still accepted, and Received.AuthUser
// tells which happened.
func WithAuth(username, password string) Option {
	return func(s *Server) {
		s.user, s.pass = username, password
	}
}

// NewServer starts an SMTP server on 127.0.0.1:0, closed by t.Cleanup.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, arrived: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.srv.Domain = "mailtest.localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = 1 << 20
	s.srv.MaxRecipients = 10
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.ErrorLog = logger{s}
	for _, o := range opts {
		o(s)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.addr = l.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.srv.Serve(l)
	}()
	t.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.srv.Close()
		// Serve registers l only once it runs; a test that ends before
		// that would leave Close with nothing to close and Serve blocked
		// in Accept. Closing l ourselves covers that window.
		l.Close()
		<-served
	})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// ClientTLSConfig trusts the server's certificate (RootCAs only; the client
// sets ServerName). Nil unless the server was made WithTLS.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// Messages returns every message received so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// WaitMessage returns the oldest message it has not returned before,
// waiting up to timeout for one to arrive.
func (s *Server) WaitMessage(timeout time.Duration) (Received, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.next < len(s.msgs) {
			r := s.msgs[s.next]
			s.next++
			s.mu.Unlock()
			return r, nil
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-timer.C:
			return Received{}, fmt.Errorf("mailtest: no message within %s", timeout)
		}
	}
}

func (s *Server) add(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, r)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// logger passes go-smtp's error log to the test log while the test runs.
type logger struct{ s *Server }

func (l logger) Printf(format string, v ...any) { l.log(fmt.Sprintf(format, v...)) }
func (l logger) Println(v ...any)               { l.log(fmt.Sprintln(v...)) }

func (l logger) log(msg string) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if !l.s.closed { // t.Logf after the test ends panics
		l.s.t.Logf("mailtest: %s", strings.TrimSpace(msg))
	}
}

// session is one SMTP connection's state; go-smtp makes a new one after
// STARTTLS.
type session struct {
	s        *Server
	tls      bool
	authUser string
	from     string
	to       []string
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: s, tls: isTLS}, nil
}

// AuthMechanisms implements smtp.AuthSession.
func (ss *session) AuthMechanisms() []string {
	if ss.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.user == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.user || password != ss.s.pass {
			return smtp.ErrAuthFailed
		}
		ss.authUser = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

// Data records the message. One that does not parse is refused with 554
// and the reason, so the sending test sees it.
func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rec, err := Parse(data)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	rec.From, rec.To, rec.TLS, rec.AuthUser = ss.from, ss.to, ss.tls, ss.authUser
	ss.s.add(rec)
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// Parse parses a raw RFC 5322 message into a Received (without the
// envelope fields): headers, decoded subject, and every leaf MIME part with
// its transfer encoding undone.
func Parse(data []byte) (Received, error) {
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return Received{}, fmt.Errorf("mailtest: parse message: %w", err)
	}
	r := Received{Data: data, Header: m.Header}
	var dec mime.WordDecoder
	if r.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		return Received{}, fmt.Errorf("mailtest: decode subject: %w", err)
	}
	top := textproto.MIMEHeader(m.Header)
	if err := collectParts(&r, top, m.Body, 0); err != nil {
		return Received{}, err
	}
	for _, p := range r.Parts {
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch {
		case mt == "text/plain" && r.Text == "":
			r.Text = p.Body
		case mt == "text/html" && r.HTML == "":
			r.HTML = p.Body
		}
	}
	return r, nil
}

func collectParts(r *Received, h textproto.MIMEHeader, body io.Reader, depth int) error {
	if depth > 5 {
		return errors.New("mailtest: MIME nesting too deep")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii" // RFC 2045 §5.2
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("mailtest: Content-Type %q: %w", ct, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		// NextRawPart keeps Content-Transfer-Encoding visible; decoding
		// is done below.
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("mailtest: multipart: %w", err)
			}
			if err := collectParts(r, p.Header, p, depth+1); err != nil {
				return err
			}
		}
	}
	var dec io.Reader
	switch cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); cte {
	case "quoted-printable":
		dec = quotedprintable.NewReader(body)
	case "base64":
		dec = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	case "", "7bit", "8bit", "binary":
		dec = body
	default:
		return fmt.Errorf("mailtest: unknown Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(dec)
	if err != nil {
		return fmt.Errorf("mailtest: decode %s part: %w", mt, err)
	}
	r.Parts = append(r.Parts, Part{Header: h, Body: strings.ReplaceAll(string(b), "\r\n", "\n")})
	return nil
}

// newlineStripper drops CR and LF, which base64 bodies wrap with.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	c, err := n.r.Read(p)
	j := 0
	for _, b := range p[:c] {
		if b != '\r' && b != '\n' {
			p[j] = b
			j++
		}
	}
	return j, err
}

// LinkToken returns the token query parameter of the first link in the
// message's text part whose path is path.
func (r Received) LinkToken(path string) (string, error) {
	return LinkToken(r.Text, path)
}

var urlPattern = regexp.MustCompile(`https?://[^\s"'<>]+`)

// LinkToken returns the token query parameter of the first http(s) URL in
// body whose path is path. body must be decoded text (Received.Text), not
// raw quoted-printable.
func LinkToken(body, path string) (string, error) {
	for _, raw := range urlPattern.FindAllString(body, -1) {
		u, err := url.Parse(raw)
		if err != nil || u.Path != path {
			continue
		}
		tok := u.Query().Get("token")
		if tok == "" {
			return "", fmt.Errorf("mailtest: link to %s has no token parameter", path)
		}
		return tok, nil
	}
	return "", fmt.Errorf("mailtest: no link to %s in the body", path)
}

// selfSigned makes a throwaway ECDSA certificate for loopback names and the
// client config that trusts it.
func selfSigned() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	return server, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
