package server

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/server/restauth"
	"github.com/authd/authd/storage"
)

// The JSON surfaces (OAuth endpoints and the account API) answer every
// error through handleError, echo's HTTPErrorHandler: an *errs.Error in the
// RFC 6749 §5.2 shape (plus "fields" for the account API), anything else as
// a generic 500 whose cause is only logged. The Django-era paths (compat.go)
// and the pages (web.go) render the same *errs.Error in their own shapes.

// statusOf is the HTTP status of an error kind, the HTTP layer's own
// kinds included.
func statusOf(k errs.Kind) int {
	if k == kindMethodNotAllowed {
		return http.StatusMethodNotAllowed
	}
	return k.Status()
}

// clientChallenge is sent with 401 invalid_client (RFC 6749 §5.2).
const clientChallenge = `Basic realm="authd", charset="UTF-8"`

// challenge is the WWW-Authenticate of an error, "" for none: Basic for
// client authentication (RFC 6749 §5.2), Bearer for access tokens (RFC
// 6750 §3), bare when no token was sent at all (§3.1).
func challenge(e *errs.Error) string {
	switch {
	case e.Code == "invalid_client" && e.Kind == errs.Unauthenticated:
		return clientChallenge
	case e.Reason == errs.ReasonTokenMissing:
		return `Bearer realm="authd"`
	case e.Code == "invalid_token":
		return `Bearer realm="authd", error="invalid_token", error_description="` + e.Description + `"`
	case e.Code == "insufficient_scope":
		return `Bearer realm="authd", error="insufficient_scope", scope="` + e.Scope + `"`
	case e.Code == "invalid_request" && e.Reason == errs.ReasonTokenInvalid:
		return `Bearer realm="authd", error="invalid_request"`
	}
	return ""
}

// errorBody is the JSON shape of every error authd sends outside the
// Django-era paths.
type errorBody struct {
	Error       string            `json:"error"`
	Description string            `json:"error_description,omitempty"`
	Fields      map[string]string `json:"fields,omitempty"`
}

// handleError is echo's HTTPErrorHandler: the single exit of every error
// of the JSON surfaces.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	h := c.Response().Header()
	// RFC 6749 §5.1/§5.2: token and error responses must not be cached.
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if he, ok := err.(*echo.HTTPError); ok && he.Code == http.StatusRequestEntityTooLarge && s.cfg.Compat.RestAuth && restauth.Owns(c.Request().URL.Path) {
		// Refused by the body limit before the Django-era handler ran:
		// still DRF's shape there.
		_ = restauth.TooLarge(c)
		return
	}
	e := s.classify(err, c)
	if secs := e.RetrySeconds(); secs > 0 {
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	if ch := challenge(e); ch != "" {
		h.Set("WWW-Authenticate", ch)
	}
	status := statusOf(e.Kind)
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, errorBody{Error: e.Code, Description: e.Description, Fields: e.Fields})
}

// classify turns whatever a handler returned into the error to send,
// logging causes. An error that is not an *errs.Error is unexpected: its
// cause is logged and the client sees a generic 500.
func (s *Server) classify(err error, c echo.Context) *errs.Error {
	log := s.reqLog(c)
	if e, ok := errs.As(err); ok {
		if e = escalate(e); e.Kind == kindInternal {
			log.Error("database corrupt", "error", e.Cause)
			return e
		}
		if e.Cause != nil {
			log.Warn("request failed", "error_code", e.Code, "cause", e.Cause)
		}
		return e
	}
	if he, ok := err.(*echo.HTTPError); ok && he.Code < 500 {
		code := strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "_"))
		desc := http.StatusText(he.Code)
		kind := errs.Invalid
		switch he.Code {
		case http.StatusRequestEntityTooLarge:
			code, desc, kind = "request_too_large", "the request body is larger than this endpoint accepts", errs.TooLarge
		case http.StatusNotFound:
			desc, kind = "no such endpoint", errs.NotFound
		case http.StatusMethodNotAllowed:
			desc = "method not allowed on this endpoint"
			return &errs.Error{Kind: kindMethodNotAllowed, Code: code, Description: desc}
		}
		return &errs.Error{Kind: kind, Code: code, Description: desc}
	}
	log.Error("internal error", "error", err)
	return &errs.Error{Kind: kindInternal, Code: "server_error", Description: "internal error; see the server log for request " + requestID(c)}
}

// Kinds only the HTTP layer produces.
const (
	kindMethodNotAllowed errs.Kind = 100 + iota
	kindInternal
)

// reqLog is the logger of a request: every line carries its request id.
func (s *Server) reqLog(c echo.Context) *slog.Logger {
	return s.log.With("request_id", requestID(c))
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// escalate turns a storage failure caused by a corrupt database into an
// internal error: retrying cannot help, so it is no retryable 503 but a
// 500 that is logged as such.
func escalate(e *errs.Error) *errs.Error {
	if e.Reason == errs.ReasonStorage && errors.Is(e.Cause, storage.ErrCorrupt) {
		return &errs.Error{Kind: kindInternal, Code: "server_error", Description: "internal error", Cause: e.Cause}
	}
	return e
}
