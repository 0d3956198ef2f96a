package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// The Django-era paths: django-rest-auth with djangorestframework-jwt and
// REST_USE_JWT = True, same payloads and response shapes, so a front end
// written for that setup switches to authd by changing its base URL. Each
// handler is a thin adapter over the account service and the token logic;
// no rule lives here.

func (s *Server) compatRoutes(api echo.MiddlewareFunc) {
	e := s.echo
	auth := s.requireJWT
	route(e, "/rest-auth/registration/", s.handleCompatRegister, post, api)
	route(e, "/rest-auth/login/", s.handleCompatLogin, post, api)
	route(e, "/rest-auth/logout/", s.handleCompatLogout, post, api)
	route(e, "/rest-auth/user/", s.handleCompatUser, []string{http.MethodGet, http.MethodPut, http.MethodPatch}, api, auth)
	route(e, "/rest-auth/password/change/", s.handleCompatPasswordChange, post, api, auth)
	route(e, "/rest-auth/password/reset/", s.handleCompatResetRequest, post, api)
	route(e, "/rest-auth/password/reset/confirm/", s.handleCompatResetConfirm, post, api)
	route(e, "/refresh-token/", s.handleCompatRefresh, post, api)
	route(e, "/verify-token/", s.handleCompatVerify, post, api)
}

// drfError is an error in Django REST Framework's shapes:
// {"field": ["message"]}, {"non_field_errors": [...]} or {"detail": "..."}.
type drfError struct {
	Status     int
	Body       any
	RetryAfter int
	Challenge  string
}

func (e *drfError) Error() string { return fmt.Sprintf("drf %d: %v", e.Status, e.Body) }

func drfFields(fields map[string]string) *drfError {
	body := make(map[string][]string, len(fields))
	for k, v := range fields {
		body[k] = []string{v}
	}
	return &drfError{Status: http.StatusBadRequest, Body: body}
}

func drfNonField(msg string) *drfError {
	return &drfError{Status: http.StatusBadRequest, Body: map[string][]string{"non_field_errors": {msg}}}
}

func drfDetail(status int, msg string) *drfError {
	return &drfError{Status: status, Body: map[string]string{"detail": msg}}
}

const (
	msgRequired   = "This field is required."
	msgMismatch   = "The two password fields didn’t match."
	msgBadLogin   = "Unable to log in with provided credentials."
	msgNoCreds    = "Authentication credentials were not provided."
	msgExpired    = "Signature has expired."
	msgBadToken   = "Error decoding signature."
	msgRefreshEnd = "Refresh has expired."
	jwtChallenge  = `JWT realm="api"`
)

// toDRF translates the account service's errors into DRF shapes; rename
// maps authd's field names to the Django-era ones (password → password1).
func toDRF(err error, rename map[string]string) error {
	var ae *AccountError
	var oe *OAuthError
	switch {
	case errors.As(err, &ae):
		if ae.Status == http.StatusTooManyRequests {
			return &drfError{Status: 429, RetryAfter: ae.RetryAfter, Body: map[string]string{"detail": fmt.Sprintf("Request was throttled. Expected available in %d seconds.", ae.RetryAfter)}}
		}
		if len(ae.Fields) > 0 && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusConflict) {
			fields := map[string]string{}
			for k, v := range ae.Fields {
				if n, ok := rename[k]; ok {
					k = n
				}
				fields[k] = drfMessage(k, v, ae.Status)
			}
			return drfFields(fields)
		}
		if ae.Status == http.StatusBadRequest {
			return drfNonField(ae.Description)
		}
		return drfDetail(ae.Status, ae.Description)
	case errors.As(err, &oe):
		switch {
		case oe.Status == http.StatusTooManyRequests:
			return &drfError{Status: 429, RetryAfter: oe.RetryAfter, Body: map[string]string{"detail": fmt.Sprintf("Request was throttled. Expected available in %d seconds.", oe.RetryAfter)}}
		case oe.Code == "invalid_grant":
			return drfNonField(msgBadLogin)
		case oe.Status == http.StatusUnauthorized:
			e := drfDetail(http.StatusUnauthorized, msgBadToken)
			e.Challenge = jwtChallenge
			return e
		default:
			e := drfDetail(oe.Status, oe.Description)
			e.RetryAfter = oe.RetryAfter
			return e
		}
	}
	return err
}

// drfMessage words a field problem as Django would.
func drfMessage(field, msg string, status int) string {
	if status == http.StatusConflict && field == "username" {
		return "A user with that username already exists."
	}
	if status == http.StatusConflict && field == "email" {
		return "A user is already registered with this e-mail address."
	}
	subject := "This field"
	if strings.Contains(field, "password") {
		subject = "This password"
	}
	return subject + " " + strings.TrimSuffix(msg, ".") + "."
}

// compatUser is the user of django-rest-auth's UserDetailsSerializer.
type compatUser struct {
	PK        string `json:"pk"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

func toCompatUser(u storage.User) compatUser {
	return compatUser{PK: u.ID, Username: u.Username, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName}
}

type compatToken struct {
	Token string     `json:"token"`
	User  compatUser `json:"user"`
}

// compatSession signs a user in at the Django-era paths: a session of the
// compat client, and its access token as "token".
func (s *Server) compatSession(c echo.Context, u storage.User) (string, error) {
	resp, err := s.startSession(c.Request().Context(), "rest_auth_login", s.compat, u, []string{"profile", "email"}, "", c.Request().UserAgent(), c.RealIP())
	if err != nil {
		return "", err
	}
	return resp.AccessToken, nil
}

// decodeCompat decodes a DRF request body: unknown fields ignored, as DRF
// does.
func decodeCompat(c echo.Context, dst any) error {
	if err := decodeJSON(c, dst, false); err != nil {
		var ae *AccountError
		if errors.As(err, &ae) && len(ae.Fields) > 0 {
			return toDRF(err, nil)
		}
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			return drfDetail(http.StatusBadRequest, "JSON parse error - "+ae.Description)
		}
		if errors.As(err, &ae) {
			return drfDetail(ae.Status, ae.Description)
		}
		return err
	}
	return nil
}

// required reports the missing fields in DRF's shape.
func required(fields map[string]string) error {
	missing := map[string]string{}
	for k, v := range fields {
		if v == "" {
			missing[k] = msgRequired
		}
	}
	if len(missing) == 0 {
		return nil
	}
	body := make(map[string][]string, len(missing))
	for k, v := range missing {
		body[k] = []string{v}
	}
	return &drfError{Status: http.StatusBadRequest, Body: body}
}

func (s *Server) handleCompatRegister(c echo.Context) error {
	var in struct {
		Username  string `json:"username"`
		Email     string `json:"email"`
		Password1 string `json:"password1"`
		Password2 string `json:"password2"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if err := required(map[string]string{"username": in.Username, "password1": in.Password1, "password2": in.Password2}); err != nil {
		return err
	}
	if in.Password1 != in.Password2 {
		return drfNonField(msgMismatch)
	}
	u, err := s.register(c.Request().Context(), registration{Username: in.Username, Email: in.Email, Password: in.Password1}, c.RealIP())
	if err != nil {
		return toDRF(err, map[string]string{"password": "password1"})
	}
	tok, err := s.compatSession(c, u)
	if err != nil {
		return toDRF(err, nil)
	}
	return noStoreJSON(c, http.StatusCreated, compatToken{Token: tok, User: toCompatUser(u)})
}

func (s *Server) handleCompatLogin(c echo.Context) error {
	var in struct {
		Username string `json:"username"`
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if in.Password == "" {
		return required(map[string]string{"password": ""})
	}
	username := in.Username
	if username == "" && in.Email != "" {
		// django-rest-auth logs in by email too.
		if u, err := s.store.GetUserByEmail(c.Request().Context(), in.Email); err == nil {
			username = u.Username
		} else {
			username = "\x00email:" + in.Email // fails like an unknown user
		}
	}
	if username == "" {
		return drfNonField(`Must include "username" and "password".`)
	}
	u, err := s.authenticateUser(c.Request().Context(), username, in.Password, c.RealIP())
	if err != nil {
		return toDRF(err, nil)
	}
	tok, err := s.compatSession(c, u)
	if err != nil {
		return toDRF(err, nil)
	}
	return noStoreJSON(c, http.StatusOK, compatToken{Token: tok, User: toCompatUser(u)})
}

// handleCompatLogout ends the session of the token it is called with.
// Unlike the original (which only cleared a Django session), the token
// cannot be refreshed or used again afterwards.
func (s *Server) handleCompatLogout(c echo.Context) error {
	if tok, ok := bearerToken(c.Request(), nil, "JWT", "Bearer"); ok {
		if ac, err := s.verifyAccess(tok); err == nil && ac.SessionID != "" {
			if err := s.endSession(c.Request().Context(), ac.SessionID, ac.Subject, ac.ClientID, "logout"); err != nil {
				return toDRF(errStore(err), nil)
			}
		}
	}
	return noStoreJSON(c, http.StatusOK, map[string]string{"detail": "Successfully logged out."})
}

// requireJWT is requireBearer in DRF's words: "Authorization: JWT <token>"
// (djangorestframework-jwt's prefix) or "Bearer <token>".
func (s *Server) requireJWT(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := bearerToken(c.Request(), nil, "JWT", "Bearer")
		if !ok {
			e := drfDetail(http.StatusUnauthorized, msgNoCreds)
			e.Challenge = jwtChallenge
			return e
		}
		ac, err := s.verifyAccess(tok)
		if err != nil {
			msg := msgBadToken
			var oe *OAuthError
			if errors.As(err, &oe) && strings.Contains(oe.Description, "expired") {
				msg = msgExpired
			}
			e := drfDetail(http.StatusUnauthorized, msg)
			e.Challenge = jwtChallenge
			return e
		}
		u, err := s.currentUser(c.Request().Context(), ac)
		if err != nil {
			return toDRF(err, nil)
		}
		c.Set(claimsKey, ac)
		c.Set(userKey, u)
		return next(c)
	}
}

const userKey = "authd.user"

func (s *Server) handleCompatUser(c echo.Context) error {
	u, _ := c.Get(userKey).(storage.User)
	if c.Request().Method == http.MethodGet {
		return noStoreJSON(c, http.StatusOK, toCompatUser(u))
	}
	// UserDetailsSerializer: username, first_name, last_name are writable;
	// pk and email are read-only (ignored when sent).
	var in struct {
		Username  *string `json:"username"`
		FirstName *string `json:"first_name"`
		LastName  *string `json:"last_name"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if c.Request().Method == http.MethodPut && in.Username == nil {
		return required(map[string]string{"username": ""})
	}
	u, err := s.updateProfile(c.Request().Context(), u.ID, profilePatch{Username: in.Username, FirstName: in.FirstName, LastName: in.LastName})
	if err != nil {
		return toDRF(err, nil)
	}
	return noStoreJSON(c, http.StatusOK, toCompatUser(u))
}

func (s *Server) handleCompatPasswordChange(c echo.Context) error {
	var in struct {
		OldPassword  string `json:"old_password"`
		NewPassword1 string `json:"new_password1"`
		NewPassword2 string `json:"new_password2"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if err := required(map[string]string{"old_password": in.OldPassword, "new_password1": in.NewPassword1, "new_password2": in.NewPassword2}); err != nil {
		return err
	}
	if in.NewPassword1 != in.NewPassword2 {
		return drfFields(map[string]string{"new_password2": msgMismatch})
	}
	u, _ := c.Get(userKey).(storage.User)
	err := s.changePassword(c.Request().Context(), u, claimsOf(c).SessionID, in.OldPassword, in.NewPassword1)
	if err != nil {
		return toDRF(err, map[string]string{"new_password": "new_password2"})
	}
	return noStoreJSON(c, http.StatusOK, map[string]string{"detail": "New password has been saved."})
}

func (s *Server) handleCompatResetRequest(c echo.Context) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if err := required(map[string]string{"email": in.Email}); err != nil {
		return err
	}
	if err := s.requestPasswordReset(c.Request().Context(), in.Email, c.RealIP()); err != nil {
		return toDRF(err, nil)
	}
	return noStoreJSON(c, http.StatusOK, map[string]string{"detail": "Password reset e-mail has been sent."})
}

func (s *Server) handleCompatResetConfirm(c echo.Context) error {
	var in struct {
		UID          string `json:"uid"`
		Token        string `json:"token"`
		NewPassword1 string `json:"new_password1"`
		NewPassword2 string `json:"new_password2"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if err := required(map[string]string{"uid": in.UID, "token": in.Token, "new_password1": in.NewPassword1, "new_password2": in.NewPassword2}); err != nil {
		return err
	}
	// The uid of the link is accepted as Django sends it; the token alone
	// (256 random bits, single-use) decides whose password changes.
	if _, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(in.UID, "=")); err != nil {
		return drfFields(map[string]string{"uid": "Invalid value"})
	}
	if in.NewPassword1 != in.NewPassword2 {
		return drfFields(map[string]string{"new_password2": msgMismatch})
	}
	err := s.confirmPasswordReset(c.Request().Context(), in.Token, in.NewPassword1)
	if errors.Is(err, errBadResetToken) {
		return drfFields(map[string]string{"token": "Invalid value"})
	}
	if err != nil {
		return toDRF(err, map[string]string{"new_password": "new_password2"})
	}
	return noStoreJSON(c, http.StatusOK, map[string]string{"detail": "Password has been reset with the new password."})
}

// compatCheck verifies a token of the Django-era paths for /refresh-token/
// and /verify-token/: signed by us, unexpired, issued at these paths, its
// session alive and its user enabled.
func (s *Server) compatCheck(ctx context.Context, tok string) (accessClaims, storage.Session, storage.User, error) {
	var ac accessClaims
	err := s.keys.Verify(tok, keys.Expected{Type: typAccess, Issuer: s.cfg.Issuer, Now: s.now()}, &ac)
	switch {
	case errors.Is(err, keys.ErrExpired):
		return ac, storage.Session{}, storage.User{}, drfNonField(msgExpired)
	case err != nil || ac.ClientID != s.compat.id || ac.SessionID == "" || s.revoked.dead(ac.SessionID, ac.ID):
		return ac, storage.Session{}, storage.User{}, drfNonField(msgBadToken)
	}
	sess, err := s.store.GetSession(ctx, ac.SessionID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !sess.EndedAt.IsZero()) {
		return ac, storage.Session{}, storage.User{}, drfNonField(msgBadToken)
	}
	if err != nil {
		return ac, storage.Session{}, storage.User{}, toDRF(errStore(err), nil)
	}
	u, err := s.currentUser(ctx, ac)
	if err != nil {
		return ac, storage.Session{}, storage.User{}, drfNonField(msgBadToken)
	}
	return ac, sess, u, nil
}

// handleCompatRefresh is djangorestframework-jwt's refresh_jwt_token: an
// unexpired token in, a new one out, while the session lives and until
// compat.refresh_expiration after the original login.
func (s *Server) handleCompatRefresh(c echo.Context) error {
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if err := required(map[string]string{"token": in.Token}); err != nil {
		return err
	}
	ac, sess, u, err := s.compatCheck(c.Request().Context(), in.Token)
	if err != nil {
		return err
	}
	now := s.now()
	end := minTime(sess.AuthTime.Add(s.cfg.Compat.RefreshExpiration), sess.ExpiresAt)
	if !now.Before(end) {
		return drfNonField(msgRefreshEnd)
	}
	resp, err := s.issueTokens(tokenRequest{grant: "rest_auth_refresh", client: s.compat, user: &u, session: &sess, scope: scopeList(ac.Scope), now: now, notAfter: end})
	if err != nil {
		return err
	}
	return noStoreJSON(c, http.StatusOK, map[string]string{"token": resp.AccessToken})
}

// handleCompatVerify is verify_jwt_token: the token back if it is valid.
func (s *Server) handleCompatVerify(c echo.Context) error {
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if err := required(map[string]string{"token": in.Token}); err != nil {
		return err
	}
	if _, _, _, err := s.compatCheck(c.Request().Context(), in.Token); err != nil {
		return err
	}
	return noStoreJSON(c, http.StatusOK, map[string]string{"token": in.Token})
}
