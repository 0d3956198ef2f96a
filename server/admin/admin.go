// Package admin serves the admin API (/admin/v1/*) and its OpenAPI
// document, one of the HTTP surfaces of package server.
package admin

import (
	_ "embed"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/account"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/server/httpx"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
)

// The admin API (/admin/v1/*): what an operator does to users, sessions,
// clients and signing keys, as JSON, for access tokens of the
// client_credentials grant that carry the admin scope. The rules live in
// the domain services; these handlers only read the request and shape the
// answer. Errors have the account API's shape (errors.go). Every call,
// refused ones included, writes an audit line naming the calling client.

// scopeAdmin is the scope the admin API requires.
const scopeAdmin = oauth.ScopeAdmin

// openAPIDoc describes the admin API and the account API (OpenAPI 3.1).
//
//go:embed openapi.json
var openAPIDoc []byte

// Options are what the admin API needs.
type Options struct {
	Accounts *account.Service
	OAuth    *oauth.Service
	Tokens   *token.Service
	Keys     *keys.Manager
	Audit    *audit.Log
}

// Handlers are the handlers of the admin API.
type Handlers struct {
	accounts *account.Service
	oauth    *oauth.Service
	tokens   *token.Service
	keys     *keys.Manager
	audit    *audit.Log
}

// New returns the handlers.
func New(o Options) *Handlers {
	return &Handlers{accounts: o.Accounts, oauth: o.OAuth, tokens: o.Tokens, keys: o.Keys, audit: o.Audit}
}

// Routes registers the admin API.
func (s *Handlers) Routes(e *echo.Echo) {
	// The document only describes the API, so anyone may read it.
	e.GET("/admin/v1/openapi.json", s.handleOpenAPI)

	mw := []echo.MiddlewareFunc{s.adminAudit, httpx.RequireScope(s.tokens.VerifyAccess, scopeAdmin, s.isAdminToken)}
	add := func(path string, handlers map[string]echo.HandlerFunc) {
		for m, h := range handlers {
			e.Add(m, path, h, mw...)
		}
	}
	add("/admin/v1/users", map[string]echo.HandlerFunc{http.MethodGet: s.handleAdminListUsers, http.MethodPost: s.handleAdminCreateUser})
	add("/admin/v1/users/:id", map[string]echo.HandlerFunc{
		http.MethodGet: s.handleAdminGetUser, http.MethodPatch: s.handleAdminUpdateUser, http.MethodDelete: s.handleAdminDeleteUser,
	})
	add("/admin/v1/users/:id/password", map[string]echo.HandlerFunc{http.MethodPost: s.handleAdminSetPassword})
	add("/admin/v1/users/:id/disable", map[string]echo.HandlerFunc{http.MethodPost: s.handleAdminSetDisabled(true)})
	add("/admin/v1/users/:id/enable", map[string]echo.HandlerFunc{http.MethodPost: s.handleAdminSetDisabled(false)})
	add("/admin/v1/users/:id/sessions", map[string]echo.HandlerFunc{
		http.MethodGet: s.handleAdminListSessions, http.MethodDelete: s.handleAdminEndSessions,
	})
	add("/admin/v1/users/:id/sessions/:sid", map[string]echo.HandlerFunc{http.MethodDelete: s.handleAdminEndSession})
	add("/admin/v1/clients", map[string]echo.HandlerFunc{http.MethodGet: s.handleAdminListClients, http.MethodPost: s.handleAdminCreateClient})
	add("/admin/v1/clients/:id", map[string]echo.HandlerFunc{
		http.MethodGet: s.handleAdminGetClient, http.MethodPatch: s.handleAdminUpdateClient, http.MethodDelete: s.handleAdminDeleteClient,
	})
	add("/admin/v1/clients/:id/secret", map[string]echo.HandlerFunc{http.MethodPost: s.handleAdminRotateSecret})
	add("/admin/v1/keys", map[string]echo.HandlerFunc{http.MethodGet: s.handleAdminListKeys})
	add("/admin/v1/keys/rotate", map[string]echo.HandlerFunc{http.MethodPost: s.handleAdminRotateKeys})
}

// isAdminToken accepts a client's own token (no user) with the admin
// scope, from a confidential client that is still registered with that
// scope: removing the scope, or the client, takes effect at once.
func (s *Handlers) isAdminToken(ac token.Access) bool {
	if ac.ForUser() || !ac.HasScope(scopeAdmin) {
		return false
	}
	cl, ok := s.oauth.Clients().Get(ac.ClientID)
	return ok && !cl.Public && slices.Contains(cl.Scopes, scopeAdmin)
}

// adminAudit writes one audit line per admin call: the route, the status
// and the client that called ("" when the token was missing or invalid).
func (s *Handlers) adminAudit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		status := c.Response().Status
		if err != nil {
			status = http.StatusInternalServerError
			if e, ok := errs.As(err); ok {
				status = e.Kind.Status()
			} else if he, ok := err.(*echo.HTTPError); ok {
				status = he.Code
			}
		}
		ac := httpx.Claims(c)
		s.audit.Event(c.Request().Context(), "admin.request", "by", ac.ClientID, "method", c.Request().Method,
			"route", c.Path(), "status", status)
		return err
	}
}

// by is the admin client calling, for the domain services' audit events.
func by(c echo.Context) string { return httpx.Claims(c).ClientID }

func (s *Handlers) handleOpenAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}

// UserJSON is a user as the admin API shows it (never the hash); the CLI's
// --json output uses it too.
type UserJSON struct {
	ID            string    `json:"id"`
	PK            int64     `json:"pk"`
	Username      string    `json:"username"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	FirstName     string    `json:"first_name"`
	LastName      string    `json:"last_name"`
	Disabled      bool      `json:"disabled"`
	HasPassword   bool      `json:"has_password"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// ToUserJSON shows u.
func ToUserJSON(u storage.User) UserJSON {
	return UserJSON{
		ID: u.ID, PK: u.PK, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified,
		FirstName: u.FirstName, LastName: u.LastName, Disabled: u.Disabled, HasPassword: u.PasswordHash != "",
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
}

func (s *Handlers) handleAdminListUsers(c echo.Context) error {
	limit := 0
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errs.Field("limit", "must be a whole number")
		}
		if n == 0 {
			n = -1 // an explicit 0 is out of range, not the default
		}
		limit = n
	}
	page, err := s.accounts.ListUsers(c.Request().Context(), c.QueryParam("q"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	out := struct {
		Users      []UserJSON `json:"users"`
		NextCursor string     `json:"next_cursor,omitempty"`
	}{Users: make([]UserJSON, 0, len(page.Users)), NextCursor: page.Next}
	for _, u := range page.Users {
		out.Users = append(out.Users, ToUserJSON(u))
	}
	return httpx.NoStoreJSON(c, http.StatusOK, out)
}

func (s *Handlers) handleAdminCreateUser(c echo.Context) error {
	var in struct {
		Username      string `json:"username"`
		Password      string `json:"password"`
		Email         string `json:"email"`
		FirstName     string `json:"first_name"`
		LastName      string `json:"last_name"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := s.accounts.Create(ctx, account.Registration{Username: in.Username, Password: in.Password, Email: in.Email, FirstName: in.FirstName, LastName: in.LastName}, by(c))
	if err != nil {
		return err
	}
	if in.EmailVerified && u.Email != "" {
		verified := true
		if u, err = s.accounts.AdminUpdate(ctx, u.ID, account.AdminPatch{EmailVerified: &verified}, by(c)); err != nil {
			return err
		}
	}
	c.Response().Header().Set("Location", "/admin/v1/users/"+u.ID)
	return httpx.NoStoreJSON(c, http.StatusCreated, ToUserJSON(u))
}

func (s *Handlers) handleAdminGetUser(c echo.Context) error {
	u, err := s.accounts.UserByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return httpx.NoStoreJSON(c, http.StatusOK, ToUserJSON(u))
}

func (s *Handlers) handleAdminUpdateUser(c echo.Context) error {
	var in struct {
		Username      *string `json:"username"`
		Email         *string `json:"email"`
		FirstName     *string `json:"first_name"`
		LastName      *string `json:"last_name"`
		EmailVerified *bool   `json:"email_verified"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	u, err := s.accounts.AdminUpdate(c.Request().Context(), c.Param("id"), account.AdminPatch{
		Username: in.Username, Email: in.Email, FirstName: in.FirstName, LastName: in.LastName, EmailVerified: in.EmailVerified,
	}, by(c))
	if err != nil {
		return err
	}
	return httpx.NoStoreJSON(c, http.StatusOK, ToUserJSON(u))
}

func (s *Handlers) handleAdminDeleteUser(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.accounts.UserByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.accounts.Delete(ctx, u, by(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Handlers) handleAdminSetPassword(c echo.Context) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := s.accounts.UserByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.accounts.SetPassword(ctx, u, in.Password, by(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Handlers) handleAdminSetDisabled(disabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		u, err := s.accounts.UserByID(ctx, c.Param("id"))
		if err != nil {
			return err
		}
		if err := s.accounts.SetDisabled(ctx, u, disabled, by(c)); err != nil {
			return err
		}
		if u, err = s.accounts.UserByID(ctx, u.ID); err != nil {
			return err
		}
		return httpx.NoStoreJSON(c, http.StatusOK, ToUserJSON(u))
	}
}

// adminSessionJSON is a session as an operator sees it: no token material.
type adminSessionJSON struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Scope      string    `json:"scope"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	AuthTime   time.Time `json:"auth_time"`
	ExpiresAt  time.Time `json:"expires_at"`
	Address    string    `json:"address"`
	UserAgent  string    `json:"user_agent"`
}

func (s *Handlers) handleAdminListSessions(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.accounts.UserByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	list, err := s.accounts.ListSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	out := struct {
		Sessions []adminSessionJSON `json:"sessions"`
	}{Sessions: make([]adminSessionJSON, 0, len(list))}
	for _, ss := range list {
		name := ss.ClientID
		if cl, ok := s.oauth.Clients().Get(ss.ClientID); ok {
			name = cl.DisplayName()
		}
		out.Sessions = append(out.Sessions, adminSessionJSON{
			ID: ss.ID, ClientID: ss.ClientID, ClientName: name, Scope: ss.Scope, CreatedAt: ss.CreatedAt.UTC(),
			LastUsedAt: ss.LastUsedAt.UTC(), AuthTime: ss.AuthTime.UTC(), ExpiresAt: ss.ExpiresAt.UTC(),
			Address: ss.Address, UserAgent: ss.UserAgent,
		})
	}
	return httpx.NoStoreJSON(c, http.StatusOK, out)
}

func (s *Handlers) handleAdminEndSession(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.accounts.UserByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.accounts.AdminEndSession(ctx, u.ID, c.Param("sid"), by(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Handlers) handleAdminEndSessions(c echo.Context) error {
	ctx := c.Request().Context()
	u, err := s.accounts.UserByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	n, err := s.accounts.AdminEndSessions(ctx, u.ID, by(c))
	if err != nil {
		return err
	}
	return httpx.NoStoreJSON(c, http.StatusOK, struct {
		Ended int `json:"ended"`
	}{n})
}

// ClientJSON is a client as the admin API and the CLI's --json show it:
// never its secret
// or the secret's hash.
type ClientJSON struct {
	ID                     string     `json:"id"`
	Name                   string     `json:"name"`
	Public                 bool       `json:"public"`
	Grants                 []string   `json:"grants"`
	Scopes                 []string   `json:"scopes"`
	RedirectURIs           []string   `json:"redirect_uris"`
	PostLogoutRedirectURIs []string   `json:"post_logout_redirect_uris"`
	Source                 string     `json:"source"`
	ReadOnly               bool       `json:"read_only"`
	Shadowed               bool       `json:"shadowed,omitempty"`
	CreatedAt              *time.Time `json:"created_at,omitempty"`
	UpdatedAt              *time.Time `json:"updated_at,omitempty"`
	// ClientSecret is set only in the answers of create and secret
	// rotation, the one time the secret is shown.
	ClientSecret string `json:"client_secret,omitempty"`
}

// ToClientJSON shows cl, without its secret.
func ToClientJSON(cl *oauth.Client) ClientJSON {
	list := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	out := ClientJSON{
		ID: cl.ID, Name: cl.Name, Public: cl.Public, Grants: list(cl.Grants), Scopes: list(cl.Scopes),
		RedirectURIs: list(cl.RedirectURIs), PostLogoutRedirectURIs: list(cl.PostLogoutRedirectURIs),
		Source: cl.Source, ReadOnly: cl.Source == oauth.SourceConfig,
	}
	if !cl.CreatedAt.IsZero() {
		c, u := cl.CreatedAt.UTC(), cl.UpdatedAt.UTC()
		out.CreatedAt, out.UpdatedAt = &c, &u
	}
	return out
}

func (s *Handlers) handleAdminListClients(c echo.Context) error {
	list, err := s.oauth.Clients().List(c.Request().Context())
	if err != nil {
		return err
	}
	out := struct {
		Clients []ClientJSON `json:"clients"`
	}{Clients: make([]ClientJSON, 0, len(list))}
	for _, e := range list {
		j := ToClientJSON(e.Client)
		j.Shadowed = e.Shadowed
		out.Clients = append(out.Clients, j)
	}
	return httpx.NoStoreJSON(c, http.StatusOK, out)
}

func (s *Handlers) handleAdminCreateClient(c echo.Context) error {
	var in struct {
		ID                     string   `json:"id"`
		Name                   string   `json:"name"`
		Public                 bool     `json:"public"`
		Grants                 []string `json:"grants"`
		Scopes                 []string `json:"scopes"`
		RedirectURIs           []string `json:"redirect_uris"`
		PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	cl, secret, err := s.oauth.Clients().Create(c.Request().Context(), oauth.ClientSpec{
		ID: in.ID, Name: in.Name, Public: in.Public, Grants: in.Grants, Scopes: in.Scopes,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
	}, by(c))
	if err != nil {
		return err
	}
	out := ToClientJSON(cl)
	out.ClientSecret = secret
	c.Response().Header().Set("Location", "/admin/v1/clients/"+cl.ID)
	return httpx.NoStoreJSON(c, http.StatusCreated, out)
}

func (s *Handlers) handleAdminGetClient(c echo.Context) error {
	cl, err := s.oauth.Clients().Lookup(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return httpx.NoStoreJSON(c, http.StatusOK, ToClientJSON(cl))
}

func (s *Handlers) handleAdminUpdateClient(c echo.Context) error {
	var in struct {
		Name                   *string   `json:"name"`
		Grants                 *[]string `json:"grants"`
		Scopes                 *[]string `json:"scopes"`
		RedirectURIs           *[]string `json:"redirect_uris"`
		PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris"`
	}
	if err := httpx.DecodeJSON(c, &in, true); err != nil {
		return err
	}
	cl, err := s.oauth.Clients().Update(c.Request().Context(), c.Param("id"), oauth.ClientPatch{
		Name: in.Name, Grants: in.Grants, Scopes: in.Scopes, RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
	}, by(c))
	if err != nil {
		return err
	}
	return httpx.NoStoreJSON(c, http.StatusOK, ToClientJSON(cl))
}

func (s *Handlers) handleAdminDeleteClient(c echo.Context) error {
	if err := s.oauth.Clients().Delete(c.Request().Context(), c.Param("id"), by(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Handlers) handleAdminRotateSecret(c echo.Context) error {
	secret, err := s.oauth.Clients().RotateSecret(c.Request().Context(), c.Param("id"), by(c))
	if err != nil {
		return err
	}
	return httpx.NoStoreJSON(c, http.StatusOK, struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}{c.Param("id"), secret})
}

// adminKeyJSON is a signing key's public facts.
type adminKeyJSON struct {
	KID         string     `json:"kid"`
	Algorithm   string     `json:"alg"`
	State       string     `json:"state"`
	CreatedAt   *time.Time `json:"created_at"`
	ActivatedAt *time.Time `json:"activated_at"`
	RetiredAt   *time.Time `json:"retired_at"`
	RemoveAt    *time.Time `json:"remove_at"`
}

// timeOrNil is t in UTC, nil when unset (JSON null).
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Handlers) handleAdminListKeys(c echo.Context) error {
	keys := s.keys.Keys()
	out := struct {
		Keys []adminKeyJSON `json:"keys"`
	}{Keys: make([]adminKeyJSON, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, adminKeyJSON{
			KID: k.ID, Algorithm: k.Algorithm, State: string(k.State), CreatedAt: timeOrNil(k.CreatedAt),
			ActivatedAt: timeOrNil(k.ActivatedAt), RetiredAt: timeOrNil(k.RetiredAt), RemoveAt: timeOrNil(k.RemoveAt),
		})
	}
	return httpx.NoStoreJSON(c, http.StatusOK, out)
}

// handleAdminRotateKeys rotates the signing keys as `authd keys rotate`
// does. The body is optional: {"alg": "RS256"|"EdDSA"} picks the algorithm
// of the new next key.
func (s *Handlers) handleAdminRotateKeys(c echo.Context) error {
	var in struct {
		Alg string `json:"alg"`
	}
	if r := c.Request(); r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
		if err := httpx.DecodeJSON(c, &in, true); err != nil {
			return err
		}
	}
	if in.Alg != "" && in.Alg != "RS256" && in.Alg != "EdDSA" {
		return errs.Field("alg", "must be RS256 or EdDSA")
	}
	ctx := c.Request().Context()
	res, err := s.keys.Rotate(ctx, in.Alg)
	if err != nil {
		return errs.Storage(err)
	}
	if res.Rotated {
		s.audit.Event(ctx, "key.rotated", "active_kid", res.Promoted, "retired_kid", res.Retired, "next_kid", res.Next, "by", by(c))
	}
	return httpx.NoStoreJSON(c, http.StatusOK, struct {
		Rotated    bool   `json:"rotated"`
		ActiveKID  string `json:"active_kid"`
		RetiredKID string `json:"retired_kid,omitempty"`
		NextKID    string `json:"next_kid"`
		Early      bool   `json:"early"`
	}{res.Rotated, res.Promoted, res.Retired, res.Next, res.Early})
}
