// Package audit writes security events: one structured log line per event
// (event=<name> plus ids such as user_id, client_id, session_id, address),
// which also feeds the metrics that count them. Callers pass ids only,
// never a secret.
package audit

import (
	"context"
	"log/slog"
)

// Sink receives every event, e.g. to count it in a metric.
type Sink func(event string, kv []any)

// Log writes audit events. The zero value and nil discard them.
type Log struct {
	log   *slog.Logger
	sinks []Sink
}

// New returns a Log writing to log (nil: discard) and calling sinks.
func New(log *slog.Logger, sinks ...Sink) *Log {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Log{log: log, sinks: sinks}
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request being served,
// so that audit lines written while serving it name it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Event records event with its key/value pairs.
func (l *Log) Event(ctx context.Context, event string, kv ...any) {
	if l == nil {
		return
	}
	for _, s := range l.sinks {
		s(event, kv)
	}
	args := make([]any, 0, len(kv)+4)
	args = append(args, "event", event)
	if id := RequestID(ctx); id != "" {
		args = append(args, "request_id", id)
	}
	args = append(args, kv...)
	l.log.Log(ctx, slog.LevelInfo, "audit", args...)
}

// AddSink adds a sink; call it before events are recorded.
func (l *Log) AddSink(s Sink) { l.sinks = append(l.sinks, s) }
