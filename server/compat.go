package server

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/account"
	"github.com/authd/authd/compat"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/storage"
)

// The Django-era paths: django-rest-auth with djangorestframework-jwt and
// REST_USE_JWT = True, same payloads and response shapes, so a front end
// written for that setup switches to authd by changing its base URL. Each
// handler is a thin adapter over the account and oauth services; drf
// renders their errors in Django REST Framework's shapes. No rule lives here.

// drf adapts a handler of the Django-era paths: the *errs.Error it returns
// is answered in DRF's shapes, with renames mapping authd's field names to
// the path's own (password → password1).
func (s *Server) drf(h echo.HandlerFunc, renames map[string]string) echo.HandlerFunc {
	return func(c echo.Context) error {
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
			de = compat.Render(e, renames)
		}
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		if de.RetryAfter > 0 {
			h.Set("Retry-After", fmt.Sprint(de.RetryAfter))
		}
		if de.Challenge != "" {
			h.Set("WWW-Authenticate", de.Challenge)
		}
		return c.JSON(de.Status, de.Body)
	}
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

// decodeCompat decodes a DRF request body: unknown fields ignored, as DRF
// does.
func decodeCompat(c echo.Context, dst any) error {
	err := decodeJSON(c, dst, false)
	if e, ok := errs.As(err); ok && len(e.Fields) == 0 {
		if e.Kind == errs.Invalid {
			return compat.Detail(400, "JSON parse error - "+e.Description)
		}
		return compat.Detail(statusOf(e.Kind), e.Description)
	}
	return err
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
	if err := compat.MissingFields(map[string]string{"username": in.Username, "password1": in.Password1, "password2": in.Password2}); err != nil {
		return err
	}
	if in.Password1 != in.Password2 {
		return compat.NonField(compat.RegisterPasswordMismatch)
	}
	ctx := c.Request().Context()
	u, err := s.accounts.Register(ctx, account.Registration{Username: in.Username, Email: in.Email, Password: in.Password1}, c.RealIP())
	if err != nil {
		return err
	}
	tok, err := s.oauth.LegacyLogin(ctx, u, c.Request().UserAgent(), c.RealIP())
	if err != nil {
		return err
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
		return compat.MissingFields(map[string]string{"password": ""})
	}
	ctx := c.Request().Context()
	username := in.Username
	if username == "" && in.Email != "" {
		// django-rest-auth logs in by email too.
		u, err := s.store.GetUserByEmail(ctx, in.Email)
		switch {
		case err == nil:
			username = u.Username
		case errors.Is(err, storage.ErrNotFound):
			username = "\x00email:" + in.Email // fails like an unknown user
		default:
			return errs.Storage(err)
		}
	}
	if username == "" {
		return compat.NonField(`Must include "username" and "password".`)
	}
	u, err := s.accounts.Authenticate(ctx, username, in.Password, c.RealIP())
	if err != nil {
		return err
	}
	tok, err := s.oauth.LegacyLogin(ctx, u, c.Request().UserAgent(), c.RealIP())
	if err != nil {
		return err
	}
	return noStoreJSON(c, http.StatusOK, compatToken{Token: tok, User: toCompatUser(u)})
}

// handleCompatLogout ends the session of the token it is called with.
// Unlike the original (which only cleared a Django session), the token
// cannot be refreshed or used again afterwards.
func (s *Server) handleCompatLogout(c echo.Context) error {
	if tok, ok := bearerToken(c.Request(), nil, "JWT", "Bearer"); ok {
		if ac, err := s.tokens.VerifyAccess(tok); err == nil && ac.ForUser() {
			if err := s.accounts.Logout(c.Request().Context(), ac.Subject, ac.SessionID, ac.ClientID); err != nil {
				return err
			}
		}
	}
	return noStoreJSON(c, http.StatusOK, map[string]string{"detail": "Successfully logged out."})
}

// requireJWT checks the token of the Django-era paths that need one:
// "Authorization: JWT <token>" (djangorestframework-jwt's prefix) or
// "Bearer <token>", issued at these paths or carrying the account scope.
func (s *Server) requireJWT(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := bearerToken(c.Request(), nil, "JWT", "Bearer")
		if !ok {
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

func (s *Server) handleCompatUser(c echo.Context) error {
	u, _ := c.Get(userKey).(storage.User)
	if c.Request().Method == http.MethodGet {
		return noStoreJSON(c, http.StatusOK, toCompatUser(u))
	}
	// UserDetailsSerializer: username, first_name, last_name are writable;
	// pk and email are read-only (ignored when sent). A username change
	// needs the current password, sent as "password".
	var in struct {
		Username  *string `json:"username"`
		FirstName *string `json:"first_name"`
		LastName  *string `json:"last_name"`
		Password  string  `json:"password"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if c.Request().Method == http.MethodPut && in.Username == nil {
		return compat.MissingFields(map[string]string{"username": ""})
	}
	u, err := s.accounts.UpdateProfile(c.Request().Context(), u.ID, account.ProfilePatch{Username: in.Username, FirstName: in.FirstName, LastName: in.LastName, CurrentPassword: in.Password})
	if err != nil {
		return err
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
	if err := compat.MissingFields(map[string]string{"old_password": in.OldPassword, "new_password1": in.NewPassword1, "new_password2": in.NewPassword2}); err != nil {
		return err
	}
	if in.NewPassword1 != in.NewPassword2 {
		return compat.Fields(map[string]string{"new_password2": compat.PasswordChangeMismatch})
	}
	u, _ := c.Get(userKey).(storage.User)
	if err := s.accounts.ChangePassword(c.Request().Context(), u, claimsOf(c).SessionID, in.OldPassword, in.NewPassword1); err != nil {
		return err
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
	if err := compat.MissingFields(map[string]string{"email": in.Email}); err != nil {
		return err
	}
	if err := s.accounts.RequestReset(c.Request().Context(), in.Email, c.RealIP()); err != nil {
		return err
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
	if err := compat.MissingFields(map[string]string{"uid": in.UID, "token": in.Token, "new_password1": in.NewPassword1, "new_password2": in.NewPassword2}); err != nil {
		return err
	}
	// The uid of the link is accepted as Django sends it; the token alone
	// (256 random bits, single-use) decides whose password changes.
	if _, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(in.UID, "=")); err != nil {
		return compat.Fields(map[string]string{"uid": "Invalid value"})
	}
	if in.NewPassword1 != in.NewPassword2 {
		return compat.Fields(map[string]string{"new_password2": compat.PasswordChangeMismatch})
	}
	err := s.accounts.ConfirmReset(c.Request().Context(), in.Token, in.NewPassword1, c.RealIP())
	if errs.ReasonOf(err) == errs.ReasonBadLink {
		return compat.Fields(map[string]string{"token": "Invalid value"})
	}
	if err != nil {
		return err
	}
	return noStoreJSON(c, http.StatusOK, map[string]string{"detail": "Password has been reset with the new password."})
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
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if err := compat.MissingFields(map[string]string{"token": in.Token}); err != nil {
		return err
	}
	tok, err := s.oauth.LegacyRefresh(c.Request().Context(), in.Token)
	if err == oauth.ErrLegacyRefreshExpired {
		return compat.NonField(compat.RefreshExpired)
	}
	if err != nil {
		return legacyTokenError(err)
	}
	return noStoreJSON(c, http.StatusOK, map[string]string{"token": tok})
}

// handleCompatVerify is verify_jwt_token: the token back if it is valid.
func (s *Server) handleCompatVerify(c echo.Context) error {
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeCompat(c, &in); err != nil {
		return err
	}
	if err := compat.MissingFields(map[string]string{"token": in.Token}); err != nil {
		return err
	}
	if _, _, _, err := s.oauth.LegacyCheck(c.Request().Context(), in.Token); err != nil {
		return legacyTokenError(err)
	}
	return noStoreJSON(c, http.StatusOK, map[string]string{"token": in.Token})
}
