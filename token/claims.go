// Package token holds what authd's tokens are: the claims of access and ID
// tokens, the token response, issuing them, verifying access tokens (the one
// function every surface calls), the in-memory view of revoked sessions and
// tokens, and the opaque secrets (refresh tokens, codes, one-time tokens)
// with the hash under which they are stored.
package token

import (
	"slices"
	"strings"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// Access is the claim set of an access token (RFC 9068 §2.2).
type Access struct {
	keys.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	// SessionID is the session (refresh family) the token belongs to;
	// empty for client_credentials tokens.
	SessionID string           `json:"sid,omitempty"`
	AuthTime  keys.NumericDate `json:"auth_time,omitempty"`
	// Identity claims released in the access token itself
	// (tokens.access_token_claims, RFC 9068 §2.2.3.1).
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
	Name              string `json:"name,omitempty"`
	// The claims of djangorestframework-jwt's payload, in tokens issued at
	// the Django-era paths only.
	UserID   *int64           `json:"user_id,omitempty"`
	Username string           `json:"username,omitempty"`
	OrigIAT  keys.NumericDate `json:"orig_iat,omitempty"`
}

// HasScope reports whether the token carries scope s.
func (a Access) HasScope(s string) bool { return slices.Contains(ParseScope(a.Scope), s) }

// ForUser reports whether the token was issued for a user (it has a
// session), not for a client alone.
func (a Access) ForUser() bool { return a.SessionID != "" }

// ID is the claim set of an ID token (OIDC Core §2, §5.1).
type ID struct {
	keys.Claims
	AuthTime keys.NumericDate `json:"auth_time,omitempty"`
	Nonce    string           `json:"nonce,omitempty"`
	// AuthorizedParty is the client the token was issued to (OIDC Core §2).
	AuthorizedParty string `json:"azp,omitempty"`
	SessionID       string `json:"sid,omitempty"`
	UserClaims
}

// UserClaims are the user's claims released by scope (OIDC Core §5.4):
// profile → preferred_username, name, given_name, family_name, updated_at;
// email → email, email_verified.
type UserClaims struct {
	PreferredUsername string           `json:"preferred_username,omitempty"`
	Name              string           `json:"name,omitempty"`
	GivenName         string           `json:"given_name,omitempty"`
	FamilyName        string           `json:"family_name,omitempty"`
	UpdatedAt         keys.NumericDate `json:"updated_at,omitempty"`
	Email             string           `json:"email,omitempty"`
	EmailVerified     *bool            `json:"email_verified,omitempty"`
}

// ClaimsForScope are the claims of u that scope releases.
func ClaimsForScope(u storage.User, scope []string) UserClaims {
	var c UserClaims
	if slices.Contains(scope, "profile") {
		c.PreferredUsername = u.Username
		c.GivenName = u.FirstName
		c.FamilyName = u.LastName
		c.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
		c.UpdatedAt = keys.NewNumericDate(u.UpdatedAt)
	}
	if slices.Contains(scope, "email") && u.Email != "" {
		c.Email = u.Email
		v := u.EmailVerified
		c.EmailVerified = &v
	}
	return c
}

// Response is a successful token response (RFC 6749 §5.1, OIDC Core
// §3.1.3.3).
type Response struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}
