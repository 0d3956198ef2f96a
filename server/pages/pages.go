// Package pages serves what people see in a browser: the hosted sign-in of
// the authorization code flow, registration, password reset and email
// verification, the account page, and RP-initiated logout. It is one of the
// HTTP surfaces of package server, over the same domain services; every
// rule it applies lives in those services.
//
// Every page works without JavaScript and ships none; every form is a POST
// with a CSRF token, answered with 303 See Other on success (so reloading
// the next page never resubmits it) or with the form again and its
// problems.
package pages

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/account"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/session"
	"github.com/authd/authd/token"
)

// Options are what the pages need.
type Options struct {
	Issuer   string
	SiteName string
	Accounts *account.Service
	Sessions *session.Service
	OAuth    *oauth.Service
	Tokens   *token.Service
	Log      *slog.Logger
	Now      func() time.Time
	// Internal reports whether an error must be the generic 500 page (a
	// corrupt database) rather than a page about the request.
	Internal func(*errs.Error) bool
}

// Handlers are the handlers of the pages.
type Handlers struct {
	issuer   string
	siteName string
	accounts *account.Service
	sessions *session.Service
	oauth    *oauth.Service
	tokens   *token.Service
	log      *slog.Logger
	now      func() time.Time
	internal func(*errs.Error) bool
	web      *webUI
}

// New parses the page templates and reads the assets: a broken template
// fails New, not a person's request.
func New(o Options) (*Handlers, error) {
	s := &Handlers{issuer: o.Issuer, siteName: o.SiteName, accounts: o.Accounts, sessions: o.Sessions, oauth: o.OAuth,
		tokens: o.Tokens, log: o.Log, now: o.Now, internal: o.Internal}
	var err error
	if s.web, err = s.newWebUI(); err != nil {
		return nil, err
	}
	return s, nil
}

// reqLog is the logger of a request: every line carries its request id.
func (s *Handlers) reqLog(c echo.Context) *slog.Logger {
	return s.log.With("request_id", requestID(c))
}

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

var (
	get     = []string{http.MethodGet}
	post    = []string{http.MethodPost}
	getPost = []string{http.MethodGet, http.MethodPost}
)
