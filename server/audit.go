package server

import (
	"context"
	"log/slog"
)

// audit logs a security event as one structured line: event=<name> plus
// ids (user_id, client_id, session_id, address). Callers pass ids only,
// never a secret.
func (s *Server) audit(ctx context.Context, event string, kv ...any) {
	s.metrics.event(event, kv)
	s.log.Log(ctx, slog.LevelInfo, "audit", append([]any{"event", event}, kv...)...)
}
