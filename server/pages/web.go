package pages

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/web"
)

// The pages people see: the hosted sign-in of the authorization code flow
// (authorize.go, signin.go), the account pages (pages_account.go),
// RP-initiated logout (logout.go), and what they share: the browser
// session (websession.go), CSRF tokens (csrf.go) and security headers
// (headers.go).
//
// Every page works without JavaScript and ships none; every form is a POST
// with a CSRF token, answered with 303 See Other on success (so reloading
// the next page never resubmits it) or with the form again and its
// problems.

// webUI is what the pages need, built once in New.
type webUI struct {
	*web.UI
	// csp is the Content-Security-Policy of every page (headers.go), as
	// of the clients' generation cspGen (clientcsp.go).
	csp    string
	cspGen uint64
	cspMu  sync.Mutex
	// https is whether the issuer is https: cookies are then Secure and
	// __Host- prefixed, and HSTS is sent.
	https bool
	// origin is the issuer's scheme://host[:port], for the Origin check of
	// forms.
	origin string
}

// newWebUI loads the page templates and assets: a broken template fails
// New, not a user's request.
func (s *Handlers) newWebUI() (*webUI, error) {
	iss, err := url.Parse(s.issuer)
	if err != nil {
		return nil, fmt.Errorf("server: issuer: %w", err)
	}
	ui, err := web.Load("signin", "register", "forgot", "reset", "verify", "account", "logout", "error")
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	w := &webUI{UI: ui, https: iss.Scheme == "https", origin: iss.Scheme + "://" + iss.Host}
	w.csp, w.cspGen = s.contentSecurityPolicy(), s.oauth.Clients().Generation()
	return w, nil
}

// webRoutes registers the pages people see and the authorization and
// end-session endpoints. Every one of them sends the page security headers
// and answers errors with an HTML page, never JSON.
// Routes registers the pages, and the authorization and end-session
// endpoints, which browsers visit. Every one of them sends the page
// security headers and answers errors with an HTML page, never JSON.
func (s *Handlers) Routes(e *echo.Echo) {
	h := s.pageHeaders
	pg := func(methods []string, p string, fn echo.HandlerFunc) {
		for _, m := range methods {
			e.Add(m, p, s.page(fn), h)
		}
	}
	// OAuth 2.0 / OIDC endpoints that browsers visit.
	pg(getPost, "/oauth2/authorize", s.handleAuthorize)
	pg(getPost, "/oauth2/logout", s.handleLogoutRP)

	// Pages.
	pg(get, "/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/account") })
	pg(get, "/signin", s.handleSigninPage)
	pg(post, "/signin", s.handleSignin)
	pg(post, "/signout", s.handleSignout)
	pg(get, "/register", s.handleRegisterPage)
	pg(post, "/register", s.handleRegisterForm)
	pg(get, "/password/forgot", s.handleForgotPage)
	pg(post, "/password/forgot", s.handleForgotForm)
	pg(get, "/password/reset", s.handleResetPage) // the link of the reset mail
	pg(post, "/password/reset", s.handleResetForm)
	pg(get, "/email/verify", s.handleVerifyPage) // the link of the verification mail
	pg(post, "/email/verify", s.handleVerifyForm)
	pg(get, "/account", s.handleAccountPage)
	pg(post, "/account", s.handleAccountForm)

	e.GET("/static/*", s.handleStatic, h)
}

// handleStatic serves the embedded assets. A URL with the current version
// of the file may be cached for good; others briefly.
func (s *Handlers) handleStatic(c echo.Context) error {
	name := c.Param("*")
	v, ok := s.web.AssetVersion(name)
	if !ok {
		return echo.ErrNotFound
	}
	cc := "public, max-age=300"
	if c.QueryParam("v") == v {
		cc = "public, max-age=31536000, immutable"
	}
	c.Response().Header().Set("Cache-Control", cc)
	http.ServeFileFS(c.Response(), c.Request(), s.web.Static, name)
	return nil
}

// pageData is what every page template gets. Pages use the fields they
// need; the zero value of the others renders nothing.
type pageData struct {
	CSRF string
	// User is the signed-in user, nil when no one is.
	User   *storage.User
	Notice string // a success message
	Error  string // a problem with the whole form
	// Fields maps a form field to its problem, a predicate ("is too
	// short") the page shows after the field's label.
	Fields map[string]string
	// Form holds values to show again in the form.
	Form map[string]string
	// Hidden are the hidden inputs the form carries on (the pending
	// authorization request, a mail link's token).
	Hidden []hiddenField
	// ClientName is the name (else the id) of the client the person is
	// signing in to or out of.
	ClientName string
	// SiteName names the service in the title and the header of every page
	// (web.site_name).
	SiteName string
	// Done switches a page to its "it worked" state.
	Done bool
	Wide bool
	// PasswordHint describes the password rules.
	PasswordHint string
	Sessions     []sessionView
	// Heading and RequestID are for the error page.
	Heading   string
	RequestID string

	// authz and next are carried to the links between the sign-in pages.
	authz, next string
}

type hiddenField struct{ Name, Value string }

// Carry returns the URL of another sign-in page that continues the same
// pending authorization request (or return path).
func (d pageData) Carry(p string) string {
	switch {
	case d.authz != "":
		return p + "?" + url.Values{"authz": {d.authz}}.Encode()
	case d.next != "":
		return p + "?" + url.Values{"next": {d.next}}.Encode()
	}
	return p
}

// carry sets the hidden fields and links that continue an authorization
// request (authz) or return to a page of ours (next).
func (d *pageData) carry(authz, next string) {
	d.authz, d.next = authz, next
	switch {
	case authz != "":
		d.Hidden = append(d.Hidden, hiddenField{"authz", authz})
	case next != "":
		d.Hidden = append(d.Hidden, hiddenField{"next", next})
	}
}

// render executes a page into a buffer first, so a template failure
// becomes a clean 500 instead of half a page.
func (s *Handlers) render(c echo.Context, status int, name string, d pageData) error {
	t := s.web.Page(name)
	if t == nil {
		return fmt.Errorf("no page template %q", name)
	}
	d.CSRF = s.csrfToken(c)
	d.SiteName = s.siteName
	if d.User == nil {
		if ws, ok := s.cachedSession(c); ok {
			d.User = &ws.user
		}
	}
	if d.PasswordHint == "" {
		d.PasswordHint = fmt.Sprintf("At least %d characters. A long phrase is easiest to remember.", s.accounts.Hasher().MinLength())
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return fmt.Errorf("rendering page %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// pageError is an error shown to a person as the error page.
type pageError struct {
	Status  int
	Heading string
	Message string
	Cause   error // logged, never shown
}

func (e *pageError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("page %d: %s: %v", e.Status, e.Message, e.Cause)
	}
	return fmt.Sprintf("page %d: %s", e.Status, e.Message)
}

func (e *pageError) Unwrap() error { return e.Cause }

func badRequestPage(format string, args ...any) *pageError {
	return &pageError{Status: http.StatusBadRequest, Heading: "This request cannot be completed", Message: fmt.Sprintf(format, args...)}
}

// page adapts a page handler: any error it returns is answered with the
// HTML error page (the JSON error handler serves the APIs), and the cause of
// an unexpected one is only logged.
func (s *Handlers) page(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := h(c)
		if err == nil || c.Response().Committed {
			return err
		}
		pe := s.toPageError(c, err)
		if pe.Cause != nil {
			s.reqLog(c).Warn("page failed", "status", pe.Status, "cause", pe.Cause)
		}
		d := pageData{Heading: pe.Heading, Error: pe.Message}
		if pe.Status >= 500 {
			d.RequestID = requestID(c)
		}
		if rerr := s.render(c, pe.Status, "error", d); rerr != nil {
			s.reqLog(c).Error("error page failed", "error", rerr)
			return c.String(http.StatusInternalServerError, "internal error")
		}
		return nil
	}
}

// toPageError turns whatever a page handler returned into what the person
// is told.
func (s *Handlers) toPageError(c echo.Context, err error) *pageError {
	var pe *pageError
	var he *echo.HTTPError
	if e, ok := errs.As(err); ok && !s.internal(e) {
		s.setRetryAfter(c, e.RetrySeconds())
		return &pageError{Status: e.Kind.Status(), Heading: "This request cannot be completed", Message: sentence(e.Description), Cause: e.Cause}
	}
	switch {
	case errors.As(err, &pe):
		if pe.Heading == "" {
			pe.Heading = http.StatusText(pe.Status)
		}
		return pe
	case errors.As(err, &he) && he.Code < 500:
		return &pageError{Status: he.Code, Heading: http.StatusText(he.Code), Message: "The request was not understood."}
	default:
		s.reqLog(c).Error("internal error", "error", err)
		return &pageError{Status: http.StatusInternalServerError, Heading: "Something went wrong",
			Message: "The server could not complete the request. Please try again in a moment."}
	}
}

func (s *Handlers) setRetryAfter(c echo.Context, secs int) {
	if secs > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	}
}

// sentence makes an API description ("the reset link is invalid") read as
// a sentence on a page.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// readPageForm parses a form POST of a page. Only the body counts (a query
// string cannot smuggle a field in), and a repeated field keeps its first
// value.
func readPageForm(c echo.Context) (url.Values, error) {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, &pageError{Status: http.StatusRequestEntityTooLarge, Heading: "Too much data", Message: "The form sent more data than this page accepts."}
		}
		return nil, badRequestPage("The form could not be read.")
	}
	return r.PostForm, nil
}

// postedForm reads a page's form and checks its CSRF token: what every
// POST handler of the pages does first.
func (s *Handlers) postedForm(c echo.Context) (url.Values, error) {
	form, err := readPageForm(c)
	if err != nil {
		return nil, err
	}
	if err := s.checkCSRF(c, form); err != nil {
		return nil, err
	}
	return form, nil
}

// formatTime shows a time to a person, in UTC.
func formatTime(t time.Time) string {
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}
