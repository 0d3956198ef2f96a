// Package restauth serves the Django-era paths: django-rest-auth 0.9 with
// djangorestframework-jwt and REST_USE_JWT = True, same payloads and
// response shapes, so a front end written for that setup switches to authd
// by changing its base URL. It is one of the HTTP surfaces of package
// server, over the same domain services; package compat holds the wording
// and parsing of Django REST Framework that it uses.
package restauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/account"
	"github.com/authd/authd/compat"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
)

// The Django-era paths: django-rest-auth 0.9 with djangorestframework-jwt
// and REST_USE_JWT = True, same payloads and response shapes, so a front
// end written for that setup switches to authd by changing its base URL.
//
// A request goes as it would through Django REST Framework: the token
// first (on the paths that need one), then the method, then the body,
// read by DRF's default parsers (JSON, form, multipart) and validated
// field by field as django-rest-auth's serializers declare them, every
// field's problems reported at once; then the domain services (account,
// oauth) decide, and their errors are worded by compat.Render. Each
// handler is a thin adapter: no rule lives here, only the order in which
// DRF asks its questions.

// Options are what the Django-era paths need.
type Options struct {
	Accounts *account.Service
	OAuth    *oauth.Service
	Tokens   *token.Service
	Users    storage.UserStore
	Log      *slog.Logger
	// OldPasswordRequired makes a password change ask for the old
	// password (compat.old_password_required).
	OldPasswordRequired bool
	// Internal reports whether an error must be the server's generic 500
	// rather than an answer of these paths (a corrupt database).
	Internal func(*errs.Error) bool
	// AccountScope is the scope that lets a token of another client use
	// these paths.
	AccountScope string
}

// Handlers are the handlers of the Django-era paths.
type Handlers struct {
	accounts     *account.Service
	oauth        *oauth.Service
	tokens       *token.Service
	store        storage.UserStore
	log          *slog.Logger
	cfg          Options
	internal     func(*errs.Error) bool
	accountScope string
}

// New returns the handlers.
func New(o Options) *Handlers {
	return &Handlers{accounts: o.Accounts, oauth: o.OAuth, tokens: o.Tokens, store: o.Users, log: o.Log, cfg: o,
		internal: o.Internal, accountScope: o.AccountScope}
}

// RouteFunc registers a handler for a path and methods (and the CORS
// preflight), behind middleware.
type RouteFunc func(path string, h echo.HandlerFunc, methods []string, mw ...echo.MiddlewareFunc)

// compatPath is one Django-era path.
type compatPath struct {
	path    string
	handler echo.HandlerFunc
	// methods are those it serves (OPTIONS, the CORS preflight, aside).
	methods []string
	// allow is the Allow header DRF sends with a 405: the view's methods.
	allow string
	// auth: the path needs a token (djangorestframework-jwt with
	// IsAuthenticated), checked before the method and the body.
	auth bool
	// words word the errors of the domain services.
	words compat.Words
}

// compatPaths lists the Django-era paths.
func (s *Handlers) compatPaths() []compatPath {
	w := func(renames map[string]string, fields compat.Serializer) compat.Words {
		h := s.accounts.Hasher()
		return compat.Words{Renames: renames, Order: fields.Names(), MinPassword: h.MinLength(), MaxPassword: h.MaxLength()}
	}
	newPassword := map[string]string{"new_password": "new_password2", "current_password": "old_password"}
	return []compatPath{
		{"/rest-auth/registration/", s.handleCompatRegister, post, "POST, OPTIONS", false, w(map[string]string{"password": "password1"}, compat.RegisterFields)},
		{"/rest-auth/registration/verify-email/", s.handleCompatVerifyEmail, post, "POST, OPTIONS, HEAD", false, w(nil, compat.VerifyEmailFields)},
		{"/rest-auth/registration/resend-email/", s.handleCompatResendEmail, post, "POST, OPTIONS, HEAD", false, w(nil, compat.EmailFields)},
		{"/rest-auth/login/", s.handleCompatLogin, post, "POST, OPTIONS", false, w(nil, compat.LoginFields)},
		{"/rest-auth/logout/", s.handleCompatLogout, post, "GET, POST, HEAD, OPTIONS", false, w(nil, nil)},
		{"/rest-auth/user/", s.handleCompatUser, []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch},
			"GET, PUT, PATCH, HEAD, OPTIONS", true, w(map[string]string{"current_password": "password"}, compat.UserFields)},
		{"/rest-auth/password/change/", s.handleCompatPasswordChange, post, "POST, OPTIONS", true, w(newPassword, compat.PasswordChangeFields(true))},
		{"/rest-auth/password/reset/", s.handleCompatResetRequest, post, "POST, OPTIONS", false, w(nil, compat.EmailFields)},
		{"/rest-auth/password/reset/confirm/", s.handleCompatResetConfirm, post, "POST, OPTIONS", false, w(newPassword, compat.ResetConfirmFields)},
		{"/refresh-token/", s.handleCompatRefresh, post, "POST, OPTIONS", false, w(nil, compat.TokenFields)},
		{"/verify-token/", s.handleCompatVerify, post, "POST, OPTIONS", false, w(nil, compat.TokenFields)},
	}
}

// post is a path served by POST alone.
var post = []string{http.MethodPost}

// compatMethods are the methods a Django-era path answers 405 to when it
// does not serve them, each registered (so that no other route takes
// them); any other method reaches the path's not-found handler, which
// answers the same.
var compatMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
	http.MethodTrace, http.MethodConnect, "PROPFIND", "REPORT",
}

// Routes registers the Django-era paths, a DRF 405 for the methods each
// does not serve, and a DRF 404 for any other path under /rest-auth/.
func (s *Handlers) Routes(e *echo.Echo, route RouteFunc, api echo.MiddlewareFunc) {
	notAllowed := map[string]echo.HandlerFunc{}
	for _, p := range s.compatPaths() {
		h, na := p.handler, compatMethodNotAllowed(p.allow)
		if p.auth {
			// DRF authenticates and checks permissions before it looks at
			// the method: without a token even a wrong method is a 401.
			h, na = s.requireJWT(h), s.requireJWT(na)
		}
		route(p.path, s.drf(h, p.words), p.methods, api)
		na = s.drf(na, p.words)
		notAllowed[p.path] = na
		for _, m := range compatMethods {
			if !slices.Contains(p.methods, m) {
				e.Add(m, p.path, na, api)
			}
		}
		if !strings.HasPrefix(p.path, "/rest-auth/") {
			e.RouteNotFound(p.path, na, api) // a method echo does not know
		}
	}
	notFound := s.drf(func(echo.Context) error {
		return compat.Detail(http.StatusNotFound, compat.NotFound)
	}, compat.Words{})
	e.RouteNotFound("/rest-auth/*", func(c echo.Context) error {
		if na, ok := notAllowed[c.Request().URL.Path]; ok {
			return na(c) // a method echo does not know, at a known path
		}
		return notFound(c)
	}, api)
}

// compatMethodNotAllowed is DRF's 405, allow listing the view's methods.
func compatMethodNotAllowed(allow string) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Allow", allow)
		return compat.Detail(http.StatusMethodNotAllowed, compat.MethodNotAllowed(c.Request().Method))
	}
}

// drf adapts a handler of the Django-era paths: a *compat.Problem it
// returns is sent as it is, an *errs.Error is worded by compat.Render with
// the path's words.
func (s *Handlers) drf(h echo.HandlerFunc, w compat.Words) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(wordsKey, w)
		err := h(c)
		if err == nil || c.Response().Committed {
			return err
		}
		de, ok := err.(*compat.Problem)
		if !ok {
			e, isErr := errs.As(err)
			if !isErr {
				return err // unexpected: the generic 500
			}
			if s.internal != nil && s.internal(e) {
				return e // the server's generic 500, logged there
			}
			if e.Cause != nil {
				s.log.Warn("request failed", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "error_code", e.Code, "cause", e.Cause)
			}
			de = compat.Render(e, w)
		}
		h := c.Response().Header()
		if de.RetryAfter > 0 {
			h.Set("Retry-After", fmt.Sprint(de.RetryAfter))
		}
		if de.Challenge != "" {
			h.Set("WWW-Authenticate", de.Challenge)
		}
		return drfJSON(c, de.Status, de.Body)
	}
}

// drfJSON sends a body as DRF's JSONRenderer writes it (compact, HTML and
// non-ASCII characters as they are), never to be cached.
func drfJSON(c echo.Context, status int, v any) error {
	b, err := compat.MarshalBody(v)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(status, "application/json", b)
}

// drfDetail is a 200 {"detail": msg}.
func drfDetail(c echo.Context, msg string) error {
	return drfJSON(c, http.StatusOK, map[string]string{"detail": msg})
}

// compatUser is the user of django-rest-auth's UserDetailsSerializer.
type compatUser struct {
	PK        int64  `json:"pk"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

func toCompatUser(u storage.User) compatUser {
	return compatUser{PK: u.PK, Username: u.Username, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName}
}

type compatToken struct {
	Token string     `json:"token"`
	User  compatUser `json:"user"`
}

// Reading a body.

// drfMaxBodyDetail is the detail of a 413 for a body over the server's
// limit (Django itself would answer a bare 400).
const drfMaxBodyDetail = "The request body is too large."

// readDRF reads the request body as DRF's default parsers do and runs the
// serializer's field validation (partial for a PATCH). An empty body is no
// data at all, whatever its type; otherwise the Content-Type picks the
// parser (JSON, form, multipart; its type and subtype compared without
// case, "*" matching any) and any other type is a 415 naming it as sent.
// The problems of the fields come back as *compat.FieldErrors (nil when
// none), a body that cannot be read as the error.
func readDRF(c echo.Context, fields compat.Serializer, partial bool) (map[string]string, *compat.FieldErrors, error) {
	r := c.Request()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, nil, compat.Detail(http.StatusRequestEntityTooLarge, drfMaxBodyDetail)
		}
		return nil, nil, compat.Detail(http.StatusBadRequest, "The request body could not be read.")
	}
	data, p := compat.ParseBody(r.Header.Get("Content-Type"), body)
	if p != nil {
		return nil, nil, p
	}
	values, fe := fields.Validate(data, partial)
	return values, fe, nil
}

// answer is the Problem of a domain error, w worded: the field errors
// merged into fe, which keeps its own problem of a field (DRF reports one
// failing step per field), or any other error as it is.
func answer(fe *compat.FieldErrors, err error, w compat.Words) error {
	e, ok := errs.As(err)
	if !ok || len(e.Fields) == 0 || (e.Kind != errs.Invalid && e.Kind != errs.Conflict) {
		return err
	}
	out := compat.Render(e, w).Body.(*compat.FieldErrors)
	if fe != nil {
		fe.Merge(out)
		out = fe
	}
	out.Sort(w.Order)
	return out.Problem()
}

// withPasswords are the words w with every problem of the password pw,
// sent as field, for an error about it.
func (s *Handlers) withPasswords(w compat.Words, field, pw, username, email string) compat.Words {
	w.Passwords = map[string][]string{field: s.accounts.PasswordCodes(pw, username, email)}
	return w
}

const wordsKey = "authd.drf_words"

// wordsOf are the words of the path the request came to.
func wordsOf(c echo.Context) compat.Words {
	w, _ := c.Get(wordsKey).(compat.Words)
	return w
}

// The handlers.

func (s *Handlers) handleCompatRegister(c echo.Context) error {
	v, fe, err := readDRF(c, compat.RegisterFields, false)
	if err != nil {
		return err
	}
	reg := account.Registration{Username: v["username"], Email: v["email"], Password: v["password1"]}
	w := s.withPasswords(wordsOf(c), "password1", reg.Password, reg.Username, reg.Email)
	// The serializer's field validators (allauth's username and password
	// checks) run with DRF's: every field's problems come at once.
	if err := s.accounts.CheckRegistration(reg); err != nil {
		return answer(fe, err, w)
	}
	if fe != nil {
		return fe.Problem()
	}
	if v["password1"] != v["password2"] {
		return compat.NonField(compat.RegisterPasswordMismatch)
	}
	ctx := c.Request().Context()
	u, err := s.accounts.Register(ctx, reg, c.RealIP())
	if err != nil {
		return answer(nil, err, w)
	}
	tok, err := s.oauth.LegacyLogin(ctx, u, c.Request().UserAgent(), c.RealIP())
	if err != nil {
		return err
	}
	return drfJSON(c, http.StatusCreated, compatToken{Token: tok, User: toCompatUser(u)})
}

func (s *Handlers) handleCompatLogin(c echo.Context) error {
	v, fe, err := readDRF(c, compat.LoginFields, false)
	if err != nil {
		return err
	}
	if fe != nil {
		return fe.Problem()
	}
	ctx := c.Request().Context()
	username := v["username"]
	if username == "" && v["email"] != "" {
		// django-rest-auth logs in by email too (without allauth).
		u, err := s.store.GetUserByEmail(ctx, v["email"])
		switch {
		case err == nil:
			username = u.Username
		case errors.Is(err, storage.ErrNotFound):
			username = "\x00email:" + v["email"] // fails like an unknown user
		default:
			return errs.Storage(err)
		}
	}
	if username == "" {
		return compat.NonField(compat.MustInclude)
	}
	u, err := s.accounts.Authenticate(ctx, username, v["password"], c.RealIP())
	if err != nil {
		return err
	}
	tok, err := s.oauth.LegacyLogin(ctx, u, c.Request().UserAgent(), c.RealIP())
	if err != nil {
		return err
	}
	return drfJSON(c, http.StatusOK, compatToken{Token: tok, User: toCompatUser(u)})
}

// handleCompatLogout ends the session of the token it is called with.
// Unlike the original (which only cleared a Django session), the token
// cannot be refreshed or used again afterwards. It reads no body, and a
// token it cannot use (already ended, expired, none) ends nothing and is
// answered alike.
func (s *Handlers) handleCompatLogout(c echo.Context) error {
	if tok, _ := compat.JWTFromHeader(c.Request().Header.Get("Authorization")); tok != "" {
		if ac, err := s.tokens.VerifyAccess(tok); err == nil && ac.ForUser() {
			if err := s.accounts.Logout(c.Request().Context(), ac.Subject, ac.SessionID, ac.ClientID); err != nil {
				return err
			}
		}
	}
	return drfDetail(c, "Successfully logged out.")
}

// requireJWT checks the token of the Django-era paths that need one:
// "Authorization: JWT <token>" (djangorestframework-jwt's prefix) or
// "Bearer <token>", issued at these paths or carrying the account scope.
func (s *Handlers) requireJWT(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, p := compat.JWTFromHeader(c.Request().Header.Get("Authorization"))
		if p != nil {
			return p
		}
		if tok == "" {
			return errs.InvalidToken(errs.ReasonTokenMissing, "an access token is required")
		}
		ac, err := s.tokens.VerifyAccess(tok)
		if err != nil {
			return err
		}
		if ac.ClientID != s.oauth.LegacyClientID() && !ac.HasScope(s.accountScope) {
			return errs.InvalidToken(errs.ReasonTokenNotAllowed, "the token was not issued for these paths")
		}
		u, err := s.accounts.CurrentUser(c.Request().Context(), ac)
		if err != nil {
			return err
		}
		c.Set(claimsKey, ac)
		c.Set(userKey, u)
		return next(c)
	}
}

const (
	userKey   = "authd.user"
	claimsKey = "authd.access_claims"
)

func claimsOf(c echo.Context) token.Access {
	ac, _ := c.Get(claimsKey).(token.Access)
	return ac
}

// handleCompatUser is UserDetailsView: the user; PUT and PATCH change
// username, first_name and last_name (pk and email are read-only and
// ignored when sent). A username change needs the current password, sent
// as "password".
func (s *Handlers) handleCompatUser(c echo.Context) error {
	u, _ := c.Get(userKey).(storage.User)
	method := c.Request().Method
	if method == http.MethodGet || method == http.MethodHead {
		return drfJSON(c, http.StatusOK, toCompatUser(u))
	}
	v, fe, err := readDRF(c, compat.UserFields, method == http.MethodPatch)
	if err != nil {
		return err
	}
	if fe != nil {
		return fe.Problem()
	}
	field := func(name string) *string {
		if x, ok := v[name]; ok {
			return &x
		}
		return nil
	}
	u, err = s.accounts.UpdateProfile(c.Request().Context(), u.ID, account.ProfilePatch{
		Username: field("username"), FirstName: field("first_name"), LastName: field("last_name"), CurrentPassword: v["password"],
	})
	if err != nil {
		return answer(nil, err, wordsOf(c))
	}
	return drfJSON(c, http.StatusOK, toCompatUser(u))
}

// handleCompatPasswordChange is PasswordChangeView. With
// compat.old_password_required (OLD_PASSWORD_FIELD_ENABLED), old_password
// is a field of its own, judged as soon as it is read: a wrong one is the
// answer even when the new passwords differ; without it, whoever holds the
// token sets the password.
func (s *Handlers) handleCompatPasswordChange(c echo.Context) error {
	withOld := s.cfg.OldPasswordRequired
	v, fe, err := readDRF(c, compat.PasswordChangeFields(withOld), false)
	if err != nil {
		return err
	}
	u, _ := c.Get(userKey).(storage.User)
	ctx := c.Request().Context()
	newPw := v["new_password1"]
	w := s.withPasswords(wordsOf(c), "new_password2", newPw, u.Username, u.Email)
	old, oldRead := v["old_password"]
	if withOld && oldRead && (fe != nil || newPw != v["new_password2"]) {
		// The new passwords will not be set: judge the old one now, as
		// DRF's field validator does, before saying what else is wrong.
		if err := s.accounts.ConfirmPassword(ctx, u, old, "change the password"); err != nil {
			return answer(fe, err, w)
		}
	}
	if fe != nil {
		return fe.Problem()
	}
	if newPw != v["new_password2"] {
		return compat.Fields(map[string]string{"new_password2": compat.PasswordChangeMismatch})
	}
	if withOld {
		err = s.accounts.ChangePassword(ctx, u, claimsOf(c).SessionID, old, newPw)
	} else {
		err = s.accounts.ChangePasswordWithoutOld(ctx, u, claimsOf(c).SessionID, newPw)
	}
	if err != nil {
		return answer(nil, err, w)
	}
	return drfDetail(c, "New password has been saved.")
}

func (s *Handlers) handleCompatResetRequest(c echo.Context) error {
	v, fe, err := readDRF(c, compat.EmailFields, false)
	if err != nil {
		return err
	}
	if fe != nil {
		return fe.Problem()
	}
	if err := s.accounts.RequestReset(c.Request().Context(), v["email"], c.RealIP()); err != nil {
		return err
	}
	return drfDetail(c, "Password reset e-mail has been sent.")
}

func (s *Handlers) handleCompatResetConfirm(c echo.Context) error {
	v, fe, err := readDRF(c, compat.ResetConfirmFields, false)
	if err != nil {
		return err
	}
	if fe != nil {
		return fe.Problem()
	}
	// The uid of the link is accepted as Django sends it; the token alone
	// (256 random bits, single-use) decides whose password changes.
	if _, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v["uid"], "=")); err != nil {
		return compat.Fields(map[string]string{"uid": compat.InvalidValue})
	}
	newPw := v["new_password1"]
	if newPw != v["new_password2"] {
		return compat.Fields(map[string]string{"new_password2": compat.PasswordChangeMismatch})
	}
	err = s.accounts.ConfirmReset(c.Request().Context(), v["token"], newPw, c.RealIP())
	if errs.ReasonOf(err) == errs.ReasonBadLink {
		return compat.Fields(map[string]string{"token": compat.InvalidValue})
	}
	if err != nil {
		// The rules that need the user do not run before the token is
		// spent: the problems are the others.
		return answer(nil, err, s.withPasswords(wordsOf(c), "new_password2", newPw, "", ""))
	}
	return drfDetail(c, "Password has been reset with the new password.")
}

// handleCompatVerifyEmail is django-rest-auth's VerifyEmailView: the key
// is the token of authd's verification link; an unknown, used or expired
// one is DRF's 404.
func (s *Handlers) handleCompatVerifyEmail(c echo.Context) error {
	v, fe, err := readDRF(c, compat.VerifyEmailFields, false)
	if err != nil {
		return err
	}
	if fe != nil {
		return fe.Problem()
	}
	err = s.accounts.VerifyEmail(c.Request().Context(), v["key"])
	if errs.ReasonOf(err) == errs.ReasonBadLink {
		return compat.Detail(http.StatusNotFound, compat.NotFound)
	}
	if err != nil {
		return err
	}
	return drfDetail(c, "ok")
}

// handleCompatResendEmail mails a new verification link to the unverified
// address sent, as dj-rest-auth's resend-email does, but answers the same
// whether the address is known, verified already or not at all (the lookup
// and the mail happen afterwards), so that it tells nobody which
// addresses have accounts.
func (s *Handlers) handleCompatResendEmail(c echo.Context) error {
	v, fe, err := readDRF(c, compat.EmailFields, false)
	if err != nil {
		return err
	}
	if fe != nil {
		return fe.Problem()
	}
	if err := s.accounts.ResendVerificationTo(c.Request().Context(), v["email"], c.RealIP()); err != nil {
		return err
	}
	return drfDetail(c, "ok")
}

// legacyTokenError words a refused token at /refresh-token/ and
// /verify-token/, which answer 400 with non_field_errors.
func legacyTokenError(err error) error {
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Unavailable {
		return err
	}
	return compat.NonField(compat.TokenMessage(e.Reason))
}

// handleCompatRefresh is djangorestframework-jwt's refresh_jwt_token.
func (s *Handlers) handleCompatRefresh(c echo.Context) error {
	v, fe, err := readDRF(c, compat.TokenFields, false)
	if err != nil {
		return err
	}
	if fe != nil {
		return fe.Problem()
	}
	tok, err := s.oauth.LegacyRefresh(c.Request().Context(), v["token"])
	if err == oauth.ErrLegacyRefreshExpired {
		return compat.NonField(compat.RefreshExpired)
	}
	if err != nil {
		return legacyTokenError(err)
	}
	return drfJSON(c, http.StatusOK, map[string]string{"token": tok})
}

// handleCompatVerify is verify_jwt_token: the token back if it is valid.
func (s *Handlers) handleCompatVerify(c echo.Context) error {
	v, fe, err := readDRF(c, compat.TokenFields, false)
	if err != nil {
		return err
	}
	if fe != nil {
		return fe.Problem()
	}
	if _, _, _, err := s.oauth.LegacyCheck(c.Request().Context(), v["token"]); err != nil {
		return legacyTokenError(err)
	}
	return drfJSON(c, http.StatusOK, map[string]string{"token": v["token"]})
}

// Owns reports whether path is one of the Django-era paths, whose errors
// are DRF's even when the server refuses a request before reaching them.
func Owns(path string) bool {
	return strings.HasPrefix(path, "/rest-auth/") || path == "/refresh-token/" || path == "/verify-token/"
}

// TooLarge answers, in DRF's shape, a request whose body is over the
// server's limit.
func TooLarge(c echo.Context) error {
	return drfJSON(c, http.StatusRequestEntityTooLarge, map[string]string{"detail": drfMaxBodyDetail})
}
