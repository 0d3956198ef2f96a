package server

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/users"
)

// requestIDs gives every request an id, echoed in X-Request-Id, carried in
// the request's context for audit lines, and on every log line about it. An
// id sent by the client is kept only if it looks like one (short,
// printable), so a log cannot be forged through it: echo's RequestID keeps
// whatever the client sends, which is why it is not used here.
func requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = base64.RawURLEncoding.EncodeToString(b[:])
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(c.Request().WithContext(audit.WithRequestID(c.Request().Context(), id)))
		return next(c)
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// accessLog logs one line per request: method, route, status, latency,
// address. Never the query string or the body, which can hold secrets.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // through handleError, so the status below is final
		}
		req := c.Request()
		status := c.Response().Status
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(req.Context(), level, "request",
			slog.String("request_id", requestID(c)),
			slog.String("method", logSafe(req.Method, 16)),
			slog.String("path", logSafe(req.URL.Path, 256)),
			slog.String("route", routeLabel(c)),
			slog.Int("status", status),
			slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("address", c.RealIP()),
		)
		return nil
	}
}

// recoverPanics turns a panic into a logged 500 instead of a dropped
// connection: echo's Recover, with the panic and its stack handed on as
// the error (so the access log and the error handler see it) and never to
// the client.
var recoverPanics = middleware.RecoverWithConfig(middleware.RecoverConfig{
	DisableStackAll:     true,
	DisableErrorHandler: true,
	LogErrorFunc: func(_ echo.Context, err error, stack []byte) error {
		return fmt.Errorf("panic: %w\n%s", err, stack)
	},
})

// limitBodies caps request bodies at max bytes: a declared length above it
// is refused at once with 413, and a body that turns out longer fails its
// read with *http.MaxBytesError, which decoders answer with 413 too. (The
// standard library's http.MaxBytesReader, rather than echo's BodyLimit,
// whose reader fails with an echo error the form parsers of net/http do not
// recognise.)
func limitBodies(max int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > max {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, max)
			return next(c)
		}
	}
}

// logSafe bounds a client-chosen value for a log line: at most n bytes,
// control characters escaped (slog's handlers quote, but a megabyte of
// method name is still a megabyte per line).
func logSafe(v string, n int) string {
	if len(v) > n {
		v = users.Truncate(v, n) + "…"
	}
	if users.HasControl(v) {
		v = strconv.QuoteToASCII(v)
	}
	return v
}
