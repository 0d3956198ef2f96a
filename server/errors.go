package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// OAuthError is an error response of RFC 6749 §5.2 (and of RFC 6750 §3.1 for
// bearer-token errors). Handlers at /oauth2/* and /userinfo return it.
type OAuthError struct {
	Status      int    // 400 unless set
	Code        string // error, e.g. "invalid_grant"
	Description string // error_description: safe for the client
	// Challenge, when set, is sent as WWW-Authenticate (RFC 6749 §5.2:
	// "invalid_client" answered with 401; RFC 6750 §3 for bearer tokens).
	Challenge string
	// RetryAfter, in seconds, is sent as Retry-After (429, 503).
	RetryAfter int
	// Cause is logged, never sent.
	Cause error
}

func (e *OAuthError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("oauth %s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return fmt.Sprintf("oauth %s: %s", e.Code, e.Description)
}

func (e *OAuthError) Unwrap() error { return e.Cause }

// oauthErr builds a 400 OAuth error.
func oauthErr(code, format string, args ...any) *OAuthError {
	return &OAuthError{Status: http.StatusBadRequest, Code: code, Description: fmt.Sprintf(format, args...)}
}

// AccountError is an error of the account API: the OAuth shape plus field
// problems.
type AccountError struct {
	Status      int
	Code        string
	Description string
	// Fields maps a request field to what is wrong with it.
	Fields     map[string]string
	RetryAfter int
	Cause      error
}

func (e *AccountError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("account %s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return fmt.Sprintf("account %s: %s", e.Code, e.Description)
}

func (e *AccountError) Unwrap() error { return e.Cause }

// errorBody is the JSON shape of every error authd sends outside the
// Django-era paths.
type errorBody struct {
	Error       string            `json:"error"`
	Description string            `json:"error_description,omitempty"`
	Fields      map[string]string `json:"fields,omitempty"`
}

// handleError is echo's HTTPErrorHandler: the single exit of every error.
// Client errors are sent in the shape of the path's API; anything
// unexpected is logged with its cause and answered with a generic 500 whose
// body says nothing about the cause.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	h := c.Response().Header()
	// RFC 6749 §5.1/§5.2: token and error responses must not be cached.
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")

	var de *drfError
	if errors.As(err, &de) {
		// The Django-era paths: DRF's own shapes, sent as they are.
		if de.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(de.RetryAfter))
		}
		if de.Challenge != "" {
			h.Set("WWW-Authenticate", de.Challenge)
		}
		_ = c.JSON(de.Status, de.Body)
		return
	}
	status, body, retryAfter, challenge := s.classify(err, c)
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	if challenge != "" {
		h.Set("WWW-Authenticate", challenge)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}

func (s *Server) classify(err error, c echo.Context) (status int, body errorBody, retryAfter int, challenge string) {
	log := s.reqLog(c)
	var oe *OAuthError
	var ae *AccountError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &oe):
		if oe.Cause != nil {
			log.Warn("request failed", "error_code", oe.Code, "cause", oe.Cause)
		}
		return cmp(oe.Status, http.StatusBadRequest), errorBody{Error: oe.Code, Description: oe.Description}, oe.RetryAfter, oe.Challenge
	case errors.As(err, &ae):
		if ae.Cause != nil {
			log.Warn("request failed", "error_code", ae.Code, "cause", ae.Cause)
		}
		return cmp(ae.Status, http.StatusBadRequest), errorBody{Error: ae.Code, Description: ae.Description, Fields: ae.Fields}, ae.RetryAfter, ""
	case errors.As(err, &he) && he.Code < 500:
		code := strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "_"))
		desc := http.StatusText(he.Code)
		switch he.Code {
		case http.StatusRequestEntityTooLarge:
			code, desc = "request_too_large", "the request body is larger than this endpoint accepts"
		case http.StatusNotFound:
			desc = "no such endpoint"
		case http.StatusMethodNotAllowed:
			desc = "method not allowed on this endpoint"
		}
		return he.Code, errorBody{Error: code, Description: desc}, 0, ""
	default:
		log.Error("internal error", "error", err)
		return http.StatusInternalServerError, errorBody{Error: "server_error", Description: "internal error; see the server log for request " + requestID(c)}, 0, ""
	}
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// reqLog is the logger of a request: every line carries its request id.
func (s *Server) reqLog(c echo.Context) *slog.Logger {
	return s.log.With("request_id", requestID(c))
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}
