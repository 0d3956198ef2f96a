package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/account"
	"github.com/authd/authd/compat"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/users"
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
func (s *Server) compatPaths() []compatPath {
	w := func(renames map[string]string, fields compat.Serializer) compat.Words {
		h := s.accounts.Hasher()
		return compat.Words{Renames: renames, Order: fields.Names(), MinPassword: h.MinLength(), MaxPassword: h.MaxLength()}
	}
	newPassword := map[string]string{"new_password": "new_password2", "current_password": "old_password"}
	return []compatPath{
		{"/rest-auth/registration/", s.handleCompatRegister, post, "POST, OPTIONS", false, w(map[string]string{"password": "password1"}, registerFields)},
		{"/rest-auth/registration/verify-email/", s.handleCompatVerifyEmail, post, "POST, OPTIONS, HEAD", false, w(nil, verifyEmailFields)},
		{"/rest-auth/registration/resend-email/", s.handleCompatResendEmail, post, "POST, OPTIONS, HEAD", false, w(nil, emailFields)},
		{"/rest-auth/login/", s.handleCompatLogin, post, "POST, OPTIONS", false, w(nil, loginFields)},
		{"/rest-auth/logout/", s.handleCompatLogout, post, "GET, POST, HEAD, OPTIONS", false, w(nil, nil)},
		{"/rest-auth/user/", s.handleCompatUser, []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch},
			"GET, PUT, PATCH, HEAD, OPTIONS", true, w(map[string]string{"current_password": "password"}, userFields)},
		{"/rest-auth/password/change/", s.handleCompatPasswordChange, post, "POST, OPTIONS", true, w(newPassword, passwordChangeFields(true))},
		{"/rest-auth/password/reset/", s.handleCompatResetRequest, post, "POST, OPTIONS", false, w(nil, emailFields)},
		{"/rest-auth/password/reset/confirm/", s.handleCompatResetConfirm, post, "POST, OPTIONS", false, w(newPassword, resetConfirmFields)},
		{"/refresh-token/", s.handleCompatRefresh, post, "POST, OPTIONS", false, w(nil, tokenFields)},
		{"/verify-token/", s.handleCompatVerify, post, "POST, OPTIONS", false, w(nil, tokenFields)},
	}
}

// compatMethods are the methods a Django-era path answers 405 to when it
// does not serve them, each registered (so that no other route takes
// them); any other method reaches the path's not-found handler, which
// answers the same.
var compatMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
	http.MethodTrace, http.MethodConnect, "PROPFIND", "REPORT",
}

// compatRoutes registers the Django-era paths, a DRF 405 for the methods
// each does not serve, and a DRF 404 for any other path under /rest-auth/.
func (s *Server) compatRoutes(api echo.MiddlewareFunc) {
	e := s.echo
	notAllowed := map[string]echo.HandlerFunc{}
	for _, p := range s.compatPaths() {
		h, na := p.handler, compatMethodNotAllowed(p.allow)
		if p.auth {
			// DRF authenticates and checks permissions before it looks at
			// the method: without a token even a wrong method is a 401.
			h, na = s.requireJWT(h), s.requireJWT(na)
		}
		route(e, p.path, s.drf(h, p.words), p.methods, api)
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
func (s *Server) drf(h echo.HandlerFunc, w compat.Words) echo.HandlerFunc {
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
			if e = escalate(e); e.Kind == kindInternal {
				return e // the generic 500 of handleError, logged there
			}
			if e.Cause != nil {
				s.reqLog(c).Warn("request failed", "error_code", e.Code, "cause", e.Cause)
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
	var data compat.Data
	if len(body) > 0 {
		ct := r.Header.Get("Content-Type")
		var p *compat.Problem
		switch {
		case mediaTypeMatches(ct, "application", "json"):
			data, p = compat.ParseJSON(body)
		case mediaTypeMatches(ct, "application", "x-www-form-urlencoded"):
			data, p = compat.ParseForm(body)
		case mediaTypeMatches(ct, "multipart", "form-data"):
			data, p = readMultipart(body, ct)
		default:
			p = compat.Detail(http.StatusUnsupportedMediaType, compat.UnsupportedMediaType(ct))
		}
		if p != nil {
			return nil, nil, p
		}
	}
	values, fe := fields.Validate(data, partial)
	return values, fe, nil
}

// mediaTypeMatches reports whether the Content-Type ct is of a parser's
// media type as DRF compares them: type and subtype without their
// parameters, lower-cased, "*" on the request's side matching anything.
func mediaTypeMatches(ct, main, sub string) bool {
	full, _, _ := strings.Cut(ct, ";")
	m, s, _ := strings.Cut(strings.ToLower(strings.TrimSpace(full)), "/")
	return (m == "*" || m == main) && (s == "*" || s == sub)
}

// readMultipart reads a multipart/form-data body as Django does, in
// memory (the body is bounded already): a part is a file when it has a
// non-empty filename, never read, a value DRF's fields refuse; any other
// part is a field, its text read as UTF-8; a body that ends badly keeps
// the fields read so far.
func readMultipart(body []byte, ct string) (compat.Data, *compat.Problem) {
	_, params, err := mime.ParseMediaType(ct)
	boundary, ok := params["boundary"]
	if err != nil || !ok || !validBoundary(boundary) {
		shown := "None"
		if ok {
			shown = boundary
		}
		return compat.Data{}, compat.Detail(http.StatusBadRequest, compat.MultipartParseError("Invalid boundary in multipart: "+shown))
	}
	values := map[string]compat.Value{}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for fields := 0; ; {
		part, err := mr.NextPart()
		if err != nil {
			break // the end, or a body Django would stop reading at
		}
		_, disp, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		name := strings.TrimSpace(disp["name"])
		if name == "" {
			continue
		}
		if disp["filename"] != "" {
			values[name] = compat.File()
			continue
		}
		if fields++; fields > compat.MaxFormFields {
			return compat.Data{}, compat.Detail(http.StatusBadRequest, compat.TooManyFields)
		}
		v, err := io.ReadAll(part)
		if err != nil {
			break
		}
		values[name] = compat.TextBytes(v)
	}
	return compat.FormData(values), nil
}

// validBoundary is Python's cgi.valid_boundary: 1 to 201 printable ASCII
// characters, not ending in a space.
func validBoundary(b string) bool {
	if len(b) == 0 || len(b) > 201 || b[len(b)-1] == ' ' {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] < ' ' || b[i] > '~' {
			return false
		}
	}
	return true
}

// checkEmail is an EmailField's EmailValidator, with authd's rules for
// an address.
func checkEmail(v string) string {
	if _, err := users.NormalizeEmail(v); err != nil {
		if errors.Is(err, users.ErrInvalidEmail) {
			return compat.InvalidEmail
		}
		var fe *users.FieldError
		if errors.As(err, &fe) {
			return fe.Message()
		}
		return compat.InvalidEmail
	}
	return ""
}

// The serializers of the paths, as django-rest-auth declares them.
var (
	// RegisterSerializer, with django-allauth's defaults.
	registerFields = compat.Serializer{
		{Name: "username", MaxLength: users.MaxUsernameLen},
		{Name: "email", Optional: true, Check: checkEmail},
		{Name: "password1"},
		{Name: "password2"},
	}
	// LoginSerializer.
	loginFields = compat.Serializer{
		{Name: "username", Optional: true, AllowBlank: true},
		{Name: "email", Optional: true, AllowBlank: true, Check: checkEmail},
		{Name: "password"},
	}
	// UserDetailsSerializer's writable fields, and "password": authd asks
	// for the current password to change the username.
	userFields = compat.Serializer{
		{Name: "username", MaxLength: users.MaxUsernameLen},
		{Name: "first_name", Optional: true, AllowBlank: true, MaxLength: users.MaxNameLen},
		{Name: "last_name", Optional: true, AllowBlank: true, MaxLength: users.MaxNameLen},
		{Name: "password", Optional: true, AllowBlank: true},
	}
	// PasswordResetConfirmSerializer.
	resetConfirmFields = compat.Serializer{
		{Name: "new_password1", MaxLength: 128},
		{Name: "new_password2", MaxLength: 128},
		{Name: "uid"},
		{Name: "token"},
	}
	// PasswordResetSerializer, and the resend of a verification mail.
	emailFields = compat.Serializer{{Name: "email", Check: checkEmail}}
	// VerifyEmailSerializer.
	verifyEmailFields = compat.Serializer{{Name: "key"}}
	// djangorestframework-jwt's refresh and verify serializers.
	tokenFields = compat.Serializer{{Name: "token"}}
)

// passwordChangeFields is PasswordChangeSerializer, with old_password
// when OLD_PASSWORD_FIELD_ENABLED.
func passwordChangeFields(withOld bool) compat.Serializer {
	f := compat.Serializer{{Name: "new_password1", MaxLength: 128}, {Name: "new_password2", MaxLength: 128}}
	if withOld {
		f = append(compat.Serializer{{Name: "old_password", MaxLength: 128}}, f...)
	}
	return f
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
func (s *Server) withPasswords(w compat.Words, field, pw, username, email string) compat.Words {
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

func (s *Server) handleCompatRegister(c echo.Context) error {
	v, fe, err := readDRF(c, registerFields, false)
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

func (s *Server) handleCompatLogin(c echo.Context) error {
	v, fe, err := readDRF(c, loginFields, false)
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
func (s *Server) handleCompatLogout(c echo.Context) error {
	if tok, _ := jwtFromHeader(c.Request().Header.Get("Authorization")); tok != "" {
		if ac, err := s.tokens.VerifyAccess(tok); err == nil && ac.ForUser() {
			if err := s.accounts.Logout(c.Request().Context(), ac.Subject, ac.SessionID, ac.ClientID); err != nil {
				return err
			}
		}
	}
	return drfDetail(c, "Successfully logged out.")
}

// jwtFromHeader reads an Authorization header as djangorestframework-jwt
// does, split on white space: no header or another scheme is no token; the
// JWT prefix (or Bearer) alone, or followed by more than one word, is a
// 401 of its own.
func jwtFromHeader(h string) (string, *compat.Problem) {
	parts := strings.FieldsFunc(h, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
	})
	if len(parts) == 0 || !(strings.EqualFold(parts[0], "JWT") || strings.EqualFold(parts[0], "Bearer")) {
		return "", nil
	}
	msg := compat.NoCredentials
	switch len(parts) {
	case 2:
		return parts[1], nil
	case 1:
	default:
		msg = compat.CredentialsSpaces
	}
	p := compat.Detail(http.StatusUnauthorized, msg)
	p.Challenge = compat.Challenge
	return "", p
}

// requireJWT checks the token of the Django-era paths that need one:
// "Authorization: JWT <token>" (djangorestframework-jwt's prefix) or
// "Bearer <token>", issued at these paths or carrying the account scope.
func (s *Server) requireJWT(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, p := jwtFromHeader(c.Request().Header.Get("Authorization"))
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
		if ac.ClientID != s.oauth.LegacyClientID() && !ac.HasScope(scopeAccount) {
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

const userKey = "authd.user"

// handleCompatUser is UserDetailsView: the user; PUT and PATCH change
// username, first_name and last_name (pk and email are read-only and
// ignored when sent). A username change needs the current password, sent
// as "password".
func (s *Server) handleCompatUser(c echo.Context) error {
	u, _ := c.Get(userKey).(storage.User)
	method := c.Request().Method
	if method == http.MethodGet || method == http.MethodHead {
		return drfJSON(c, http.StatusOK, toCompatUser(u))
	}
	v, fe, err := readDRF(c, userFields, method == http.MethodPatch)
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
func (s *Server) handleCompatPasswordChange(c echo.Context) error {
	withOld := s.cfg.Compat.OldPasswordRequired
	v, fe, err := readDRF(c, passwordChangeFields(withOld), false)
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

func (s *Server) handleCompatResetRequest(c echo.Context) error {
	v, fe, err := readDRF(c, emailFields, false)
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

func (s *Server) handleCompatResetConfirm(c echo.Context) error {
	v, fe, err := readDRF(c, resetConfirmFields, false)
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
func (s *Server) handleCompatVerifyEmail(c echo.Context) error {
	v, fe, err := readDRF(c, verifyEmailFields, false)
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
func (s *Server) handleCompatResendEmail(c echo.Context) error {
	v, fe, err := readDRF(c, emailFields, false)
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
func (s *Server) handleCompatRefresh(c echo.Context) error {
	v, fe, err := readDRF(c, tokenFields, false)
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
func (s *Server) handleCompatVerify(c echo.Context) error {
	v, fe, err := readDRF(c, tokenFields, false)
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
