package mail

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// maxSubjectBytes keeps the encoded Subject line well under the 998
// characters RFC 5322 §2.1.1 allows on one line.
const maxSubjectBytes = 255

// parseAddress parses one address for a header or the envelope.
func parseAddress(s string) (*netmail.Address, error) {
	// Header injection: "a@example.com\r\nBcc: victim@example.com" must
	// never reach a header line.
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("address: %w", ErrHeaderInjection)
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%w: address %q: %v", ErrInvalidMessage, s, err)
	}
	// An address outside ASCII needs SMTPUTF8 (RFC 6531) end to end, which
	// this sender does not speak; refuse it rather than mangle it.
	for i := 0; i < len(a.Address); i++ {
		if a.Address[i] >= utf8.RuneSelf || a.Address[i] < ' ' {
			return nil, fmt.Errorf("%w: address %q: only ASCII addresses are supported", ErrInvalidMessage, s)
		}
	}
	return a, nil
}

// checkMessage validates what Message carries into headers.
func checkMessage(m Message) (*netmail.Address, error) {
	to, err := parseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, fmt.Errorf("subject: %w", ErrHeaderInjection)
	}
	if len(m.Subject) > maxSubjectBytes {
		return nil, fmt.Errorf("%w: subject longer than %d bytes", ErrInvalidMessage, maxSubjectBytes)
	}
	if !utf8.ValidString(m.Subject) || !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrInvalidMessage)
	}
	if strings.TrimSpace(m.Text) == "" {
		return nil, fmt.Errorf("%w: empty text body", ErrInvalidMessage)
	}
	return to, nil
}

// newMessageID returns a globally unique Message-ID (RFC 5322 §3.6.4): 128
// random bits at the sender's domain.
func newMessageID(from *netmail.Address) string {
	domain := "localhost"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 && i+1 < len(from.Address) {
		domain = from.Address[i+1:]
	}
	return "<" + rand.Text() + "@" + domain + ">"
}

// encodeSubject applies RFC 2047 Q-encoding when the subject is not plain
// ASCII, folding between encoded words so each line stays short.
func encodeSubject(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	if enc == s {
		return s
	}
	// The encoder separates encoded words with one space, and "?" inside
	// a word is itself encoded, so "?= =?" only occurs between words.
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// buildMessage renders m as an RFC 5322 message with CRLF line endings:
// headers, then a text/plain part or a multipart/alternative of text/plain
// and text/html, each UTF-8 in quoted-printable so every line is 7-bit and
// under 78 characters whatever the server supports.
func buildMessage(from *netmail.Address, m Message, date time.Time, messageID string) ([]byte, error) {
	to, err := checkMessage(m)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("Date", date.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", to.String())
	header("Subject", encodeSubject(m.Subject))
	header("Message-ID", messageID)
	header("MIME-Version", "1.0")
	// RFC 3834 §5: an automatic mail; auto-responders must not answer it.
	header("Auto-Submitted", "auto-generated")

	textHeader := textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	}
	if m.HTML == "" {
		for _, k := range []string{"Content-Type", "Content-Transfer-Encoding"} {
			header(k, textHeader.Get(k))
		}
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	// Folded before the long boundary parameter to keep lines short.
	ct := mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()})
	header("Content-Type", strings.Replace(ct, "; ", ";\r\n ", 1))
	b.WriteString("\r\n")
	// RFC 2046 §5.1.4: alternatives in increasing order of preference, so
	// clients that can show HTML pick the last part.
	parts := []struct {
		header textproto.MIMEHeader
		body   string
	}{
		{textHeader, m.Text},
		{textproto.MIMEHeader{
			"Content-Type":              {"text/html; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		}, m.HTML},
	}
	for _, p := range parts {
		w, err := mw.CreatePart(p.header)
		if err != nil {
			return nil, fmt.Errorf("mail: build message: %w", err)
		}
		if err := writeQP(w, p.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("mail: build message: %w", err)
	}
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// writeQP writes s quoted-printable with CRLF line endings, ending with a
// line break.
func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	qp := quotedprintable.NewWriter(w) // text mode: "\n" becomes CRLF
	if _, err := qp.Write([]byte(s)); err != nil {
		return fmt.Errorf("mail: encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return fmt.Errorf("mail: encode body: %w", err)
	}
	return nil
}
