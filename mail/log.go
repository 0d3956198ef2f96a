package mail

import (
	"context"
	"log/slog"
	"regexp"
)

// Redacted replaces every token query value in mails written to the log.
const Redacted = "REDACTED"

// tokenParam matches a token query parameter's value in a URL, in plain
// text or HTML (where "&" is written "&amp;"). The value ends where a URL
// parameter, fragment, or the URL itself ends.
var tokenParam = regexp.MustCompile(`(?i)((?:[?&]|&amp;)token=)[^&#\s"'<>]*`)

// redactTokens replaces the value of every token query parameter in s.
func redactTokens(s string) string {
	return tokenParam.ReplaceAllString(s, "${1}"+Redacted)
}

// LogSender writes mails to a log instead of sending them: authd's
// behaviour when no SMTP server is configured. It is safe for concurrent
// use.
type LogSender struct {
	log      *slog.Logger
	logLinks bool
}

// NewLogSender returns a sender that logs each mail at Info with
// event=mail.logged, its recipient, subject and text body. Unless logLinks
// is set, the value of every token query parameter in the body reads
// REDACTED: the log must not hand out account takeovers. A nil log
// discards.
func NewLogSender(log *slog.Logger, logLinks bool) *LogSender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LogSender{log: log, logLinks: logLinks}
}

// Send logs m. It checks m as the SMTP sender would, so a message that
// could not be mailed fails here too.
func (s *LogSender) Send(ctx context.Context, m Message) error {
	if _, err := checkMessage(m); err != nil {
		return err
	}
	body := m.Text
	if !s.logLinks {
		body = redactTokens(body)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "mail logged instead of sent (no mail.smtp_addr)",
		slog.String("event", "mail.logged"),
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.Bool("links_redacted", !s.logLinks),
		slog.String("body", body),
	)
	return nil
}
