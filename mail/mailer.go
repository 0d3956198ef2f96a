package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/web"
)

// Kind is the purpose of a mail; each has its templates in web/mail.
type Kind string

// The mails authd sends.
const (
	// PasswordReset carries the link to /account/password/reset/confirm's
	// page (templates reset.*.tmpl).
	PasswordReset Kind = "reset"
	// EmailVerification carries the link that confirms an address
	// (templates verify.*.tmpl).
	EmailVerification Kind = "verify"
)

// Data is what a mail says beyond its fixed text.
type Data struct {
	// Link is the URL the recipient opens, token included. Required.
	Link string
	// ValidFor is how long the link works, written out in the mail ("1
	// hour", "48 hours"). Zero leaves the sentence out.
	ValidFor time.Duration
	// Name greets the recipient ("Hello Ada,") of a password-reset mail
	// when Verified is set. Optional.
	Name string
	// Verified says the recipient's address is verified. A mail to an
	// address that is not may reach someone other than the account's
	// owner, who then must not read text the owner typed: without
	// Verified, Name is left out. Email-verification mails go to
	// unverified addresses by their nature and never carry Name.
	Verified bool
}

// view is the data the templates in web/mail see.
type view struct {
	Subject  string
	Name     string
	Link     string
	ValidFor string
}

// Options tunes a Mailer. The zero value is ready to use.
type Options struct {
	// Logger receives event=mail.sent, mail.failed, mail.dropped and
	// mail.abandoned lines; none holds a link. Default: discard.
	Logger *slog.Logger
	// QueueSize is how many mails may wait for delivery; past it Send drops
	// the mail. Default 100.
	QueueSize int
	// Workers is how many mails are delivered at once. Default 2.
	Workers int
	// DrainTimeout is how long Run keeps delivering after its ctx ends, so
	// mail accepted before shutdown still goes out. Default 5s; negative:
	// abandon queued mail at once.
	DrainTimeout time.Duration
}

// Option defaults.
const (
	DefaultQueueSize    = 100
	DefaultWorkers      = 2
	DefaultDrainTimeout = 5 * time.Second
)

// Mailer renders account mails and delivers them in the background through
// a bounded queue. Its methods are safe for concurrent use.
type Mailer struct {
	sender  Sender
	log     *slog.Logger
	tmpls   map[Kind]web.MailTemplate
	queue   chan job
	workers int
	drain   time.Duration

	running atomic.Bool
	mu      sync.RWMutex // guards stopped against enqueues racing Run's exit
	stopped bool
}

// job is one rendered mail waiting in the queue.
type job struct {
	ctx  context.Context // the caller's, without its cancellation: values for logging
	kind Kind
	msg  Message
}

// NewMailer parses the mail templates from package web and returns a
// Mailer delivering through sender. A missing or broken template is an
// error here, at start-up, not on a user's request. Call Run to start
// delivering.
func NewMailer(sender Sender, opts Options) (*Mailer, error) {
	if sender == nil {
		return nil, errors.New("mail: NewMailer: nil sender")
	}
	all, err := web.MailTemplates()
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	tmpls := make(map[Kind]web.MailTemplate)
	for _, k := range []Kind{PasswordReset, EmailVerification} {
		t, ok := all[string(k)]
		if !ok {
			return nil, fmt.Errorf("mail: no templates for %q mails in web/mail", k)
		}
		tmpls[k] = t
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	return &Mailer{
		sender:  sender,
		log:     opts.Logger,
		tmpls:   tmpls,
		queue:   make(chan job, opts.QueueSize),
		workers: opts.Workers,
		drain:   opts.DrainTimeout,
	}, nil
}

// Render builds the kind mail for to from its templates. It fails on an
// unknown kind, an empty link, or a recipient that cannot be mailed
// (ErrInvalidMessage, ErrHeaderInjection).
func (m *Mailer) Render(kind Kind, to string, d Data) (Message, error) {
	t, ok := m.tmpls[kind]
	if !ok {
		return Message{}, fmt.Errorf("%w: unknown kind %q", ErrInvalidMessage, kind)
	}
	if d.Link == "" {
		return Message{}, fmt.Errorf("%w: %s mail without a link", ErrInvalidMessage, kind)
	}
	v := view{Link: d.Link, ValidFor: humanDuration(d.ValidFor)}
	if d.Verified && kind != EmailVerification {
		v.Name = d.Name
	}

	var b strings.Builder
	if err := t.Text.ExecuteTemplate(&b, "subject", v); err != nil {
		return Message{}, fmt.Errorf("mail: render %s subject: %w", kind, err)
	}
	// A subject is one line whatever the template's layout.
	v.Subject = strings.Join(strings.Fields(b.String()), " ")

	b.Reset()
	if err := t.Text.Execute(&b, v); err != nil {
		return Message{}, fmt.Errorf("mail: render %s text: %w", kind, err)
	}
	text := strings.TrimSpace(b.String()) + "\n"

	b.Reset()
	if err := t.HTML.Execute(&b, v); err != nil {
		return Message{}, fmt.Errorf("mail: render %s html: %w", kind, err)
	}
	msg := Message{To: to, Subject: v.Subject, Text: text, HTML: b.String()}
	if _, err := checkMessage(msg); err != nil {
		return Message{}, fmt.Errorf("mail: %s mail: %w", kind, err)
	}
	return msg, nil
}

// Send renders the kind mail and queues it for delivery, for the request
// path: it never waits on the network or on room in the queue. When the
// queue is full it logs event=mail.dropped and returns ErrQueueFull; after
// Run has returned it returns ErrStopped. Delivery failures are only
// logged (event=mail.failed): they never reach the caller, so an HTTP
// client cannot learn whether a mail went out. ctx supplies values for the
// log lines (a request id); cancelling it does not cancel delivery.
func (m *Mailer) Send(ctx context.Context, kind Kind, to string, d Data) error {
	msg, err := m.Render(kind, to, d)
	if err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.stopped {
		return ErrStopped
	}
	select {
	case m.queue <- job{ctx: context.WithoutCancel(ctx), kind: kind, msg: msg}:
		return nil
	default:
		m.log.LogAttrs(ctx, slog.LevelWarn, "mail dropped: queue full",
			slog.String("event", "mail.dropped"),
			slog.String("kind", string(kind)),
			slog.String("to", to),
			slog.Int("queue_size", cap(m.queue)),
		)
		return fmt.Errorf("%s mail: %w", kind, ErrQueueFull)
	}
}

// Deliver renders the kind mail and sends it now, returning the sender's
// error: for the command line and tests. Servers use Send.
func (m *Mailer) Deliver(ctx context.Context, kind Kind, to string, d Data) error {
	msg, err := m.Render(kind, to, d)
	if err != nil {
		return err
	}
	if err := m.sender.Send(ctx, msg); err != nil {
		return fmt.Errorf("mail: deliver %s mail: %w", kind, err)
	}
	return nil
}

// Run delivers queued mail until ctx ends, then keeps delivering what is
// queued for up to DrainTimeout, logs event=mail.abandoned for the rest,
// and returns. Once Run has returned, Send fails with ErrStopped. Cancel
// ctx after the HTTP server has shut down, so mail of the last requests is
// queued before the drain. Run may be called once.
func (m *Mailer) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("mail: Mailer.Run called twice")
	}
	done := make(chan struct{})
	defer close(done)

	// Deliveries run under dctx, which outlives ctx by DrainTimeout: mail
	// in flight or queued at shutdown still goes out, within a bound.
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopDrainTimer := context.AfterFunc(ctx, func() {
		if m.drain < 0 {
			cancel()
			return
		}
		t := time.NewTimer(m.drain)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-done:
		}
	})
	defer stopDrainTimer()

	var wg sync.WaitGroup
	for range m.workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case j := <-m.queue:
					m.deliver(dctx, j)
				}
			}
		})
	}
	wg.Wait()

	m.mu.Lock()
	m.stopped = true // no Send adds to the queue from here on
	m.mu.Unlock()

	abandoned := 0
	for {
		select {
		case j := <-m.queue:
			if m.drain < 0 || dctx.Err() != nil {
				abandoned++
				continue
			}
			m.deliver(dctx, j)
		default:
			if abandoned > 0 {
				m.log.LogAttrs(ctx, slog.LevelWarn, "mail abandoned at shutdown",
					slog.String("event", "mail.abandoned"),
					slog.Int("count", abandoned),
				)
			}
			return nil
		}
	}
}

// deliver sends one queued mail and logs the outcome, never the link.
func (m *Mailer) deliver(ctx context.Context, j job) {
	start := time.Now()
	err := m.sender.Send(ctx, j.msg)
	if err != nil {
		m.log.LogAttrs(j.ctx, slog.LevelError, "mail not sent",
			slog.String("event", "mail.failed"),
			slog.String("kind", string(j.kind)),
			slog.String("to", j.msg.To),
			slog.Duration("duration", time.Since(start)),
			slog.String("error", err.Error()),
		)
		return
	}
	m.log.LogAttrs(j.ctx, slog.LevelInfo, "mail sent",
		slog.String("event", "mail.sent"),
		slog.String("kind", string(j.kind)),
		slog.String("to", j.msg.To),
		slog.Duration("duration", time.Since(start)),
	)
}

// humanDuration writes d for a reader: "1 hour", "48 hours", "30 minutes".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d <= 0:
		return ""
	case d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d.Round(time.Minute)/time.Minute), "minute")
	default:
		return plural(int64(d.Round(time.Second)/time.Second), "second")
	}
}
