package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/account"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/server/httpx"
	"github.com/authd/authd/storage"
)

// userJSON is a user as the account API shows it (never the hash).
type userJSON struct {
	ID            string    `json:"id"`
	Username      string    `json:"username"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	FirstName     string    `json:"first_name"`
	LastName      string    `json:"last_name"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func toUserJSON(u storage.User) userJSON {
	return userJSON{
		ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified,
		FirstName: u.FirstName, LastName: u.LastName, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
}

func (s *Server) handleRegister(c echo.Context) error {
	var in struct {
		Username  string `json:"username"`
		Password  string `json:"password"`
		Email     string `json:"email"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	u, err := s.accounts.Register(c.Request().Context(), account.Registration{Username: in.Username, Password: in.Password, Email: in.Email, FirstName: in.FirstName, LastName: in.LastName}, c.RealIP())
	if err != nil {
		return err
	}
	return httpx.NoStoreJSON(c, http.StatusCreated, toUserJSON(u))
}

func (s *Server) handleMe(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.accounts.CurrentUser(ctx, httpx.Claims(c))
	if err != nil {
		return err
	}
	if c.Request().Method == http.MethodGet {
		return httpx.NoStoreJSON(c, http.StatusOK, toUserJSON(u))
	}
	// An explicit input struct: id, disabled and email_verified cannot be
	// set, and asking to is an error naming the field.
	var in struct {
		Email     *string `json:"email"`
		FirstName *string `json:"first_name"`
		LastName  *string `json:"last_name"`
		// Password is the current password, required to change the email.
		Password string `json:"password"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	u, err = s.accounts.UpdateProfile(ctx, u.ID, account.ProfilePatch{Email: in.Email, FirstName: in.FirstName, LastName: in.LastName, CurrentPassword: in.Password})
	if e, ok := errs.As(err); ok && e.Fields["current_password"] != "" {
		e.Fields = map[string]string{"password": e.Fields["current_password"]} // this API's name for it
	}
	if err != nil {
		return err
	}
	return httpx.NoStoreJSON(c, http.StatusOK, toUserJSON(u))
}

func (s *Server) handlePasswordChange(c echo.Context) error {
	var in struct {
		OldPassword string `json:"old_password"`
		NewPassword string `json:"new_password"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	ctx := c.Request().Context()
	ac := httpx.Claims(c)
	u, err := s.accounts.CurrentUser(ctx, ac)
	if err != nil {
		return err
	}
	if err := s.accounts.ChangePassword(ctx, u, ac.SessionID, in.OldPassword, in.NewPassword); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type statusJSON struct {
	Status string `json:"status"`
}

func (s *Server) handleResetRequest(c echo.Context) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	if err := s.accounts.RequestReset(c.Request().Context(), in.Email, c.RealIP()); err != nil {
		return err
	}
	return httpx.NoStoreJSON(c, http.StatusAccepted, statusJSON{"if the address belongs to an account, a reset link is on its way"})
}

func (s *Server) handleResetConfirm(c echo.Context) error {
	var in struct {
		Token       string `json:"token"`
		NewPassword string `json:"new_password"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	if err := s.accounts.ConfirmReset(c.Request().Context(), in.Token, in.NewPassword, c.RealIP()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) handleVerifyEmail(c echo.Context) error {
	var in struct {
		Token string `json:"token"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	if err := s.accounts.VerifyEmail(c.Request().Context(), in.Token); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// sessionJSON is a session as its user sees it: no token material.
type sessionJSON struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	AuthTime   time.Time `json:"auth_time"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	Address    string    `json:"address"`
	Current    bool      `json:"current"`
}

func (s *Server) handleSessions(c echo.Context) error {
	ac := httpx.Claims(c)
	u, err := s.accounts.CurrentUser(c.Request().Context(), ac)
	if err != nil {
		return err
	}
	list, err := s.accounts.ListSessions(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]sessionJSON, 0, len(list))
	for _, ss := range list {
		out = append(out, sessionJSON{
			ID: ss.ID, ClientID: ss.ClientID, CreatedAt: ss.CreatedAt.UTC(), LastUsedAt: ss.LastUsedAt.UTC(),
			AuthTime: ss.AuthTime.UTC(), ExpiresAt: ss.ExpiresAt.UTC(), UserAgent: ss.UserAgent, Address: ss.Address,
			Current: ss.ID == ac.SessionID,
		})
	}
	return httpx.NoStoreJSON(c, http.StatusOK, out)
}

func (s *Server) handleEndSession(c echo.Context) error {
	ac := httpx.Claims(c)
	u, err := s.accounts.CurrentUser(c.Request().Context(), ac)
	if err != nil {
		return err
	}
	if err := s.accounts.EndSession(c.Request().Context(), u.ID, c.Param("id"), "signed_out"); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) handleLogout(c echo.Context) error {
	ac := httpx.Claims(c)
	u, err := s.accounts.CurrentUser(c.Request().Context(), ac)
	if err != nil {
		return err
	}
	if err := s.accounts.Logout(c.Request().Context(), u.ID, ac.SessionID, ac.ClientID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// handleResendVerification mails a new verification link for the user's
// current, unverified email.
func (s *Server) handleResendVerification(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.accounts.CurrentUser(ctx, httpx.Claims(c))
	if err != nil {
		return err
	}
	if err := s.accounts.ResendVerification(ctx, u); err != nil {
		return err
	}
	return httpx.NoStoreJSON(c, http.StatusAccepted, statusJSON{"if the address is not verified yet, a new link is on its way"})
}
