package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

type healthResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// handleHealthz answers liveness: the process serves HTTP.
func (s *Server) handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, healthResponse{Status: "ok"})
}

// fileChecker and writeProber are readiness checks a storage backend may
// offer: that the database file is still the one opened (not removed or
// replaced underneath the server), and that a real write succeeds (not a
// full disk, a read-only file system or a corrupt page).
type fileChecker interface{ CheckFile() error }
type writeProber interface {
	ProbeWrite(ctx context.Context) error
}

// handleReadyz answers readiness: the database answers and accepts writes,
// its file is the one opened, and a signing key is active. A failing check
// is named, its cause only logged.
func (s *Server) handleReadyz(c echo.Context) error {
	checks := map[string]string{"database": "ok", "signing_key": "ok"}
	ready := true
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.reqLog(c).Error("readiness: database", "error", err)
		checks["database"], ready = "unavailable", false
	}
	if fc, ok := s.store.(fileChecker); ok {
		if err := fc.CheckFile(); err != nil {
			s.reqLog(c).Error("readiness: database file", "error", err)
			checks["database_file"], ready = "removed or replaced since start-up; restart once it is back", false
		}
	}
	if wp, ok := s.store.(writeProber); ok && ready {
		if err := wp.ProbeWrite(ctx); err != nil {
			s.reqLog(c).Error("readiness: database write", "error", err)
			checks["database_write"], ready = "writes fail", false
		}
	}
	if _, _, ok := s.keys.Active(); !ok {
		checks["signing_key"], ready = "no active key", false
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if !ready {
		return c.JSON(http.StatusServiceUnavailable, healthResponse{Status: "unavailable", Checks: checks})
	}
	return c.JSON(http.StatusOK, healthResponse{Status: "ok", Checks: checks})
}
