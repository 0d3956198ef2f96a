package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// Token types in JWS headers.
const (
	typAccess = "at+jwt" // RFC 9068 §2.1
	typID     = "JWT"
)

// accessClaims are the claims of an access token (RFC 9068 §2.2).
type accessClaims struct {
	keys.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	// SessionID is the session (refresh family) the token belongs to;
	// empty for client_credentials tokens.
	SessionID string           `json:"sid,omitempty"`
	AuthTime  keys.NumericDate `json:"auth_time,omitempty"`
}

// idClaims are the claims of an ID token (OIDC Core §2, §5.1).
type idClaims struct {
	keys.Claims
	AuthTime keys.NumericDate `json:"auth_time,omitempty"`
	Nonce    string           `json:"nonce,omitempty"`
	// AuthorizedParty is the client the token was issued to (OIDC Core §2).
	AuthorizedParty string `json:"azp,omitempty"`
	SessionID       string `json:"sid,omitempty"`
	userClaims
}

// userClaims are the user's claims released by scope (OIDC Core §5.4):
// profile → preferred_username, name, given_name, family_name, updated_at;
// email → email, email_verified.
type userClaims struct {
	PreferredUsername string           `json:"preferred_username,omitempty"`
	Name              string           `json:"name,omitempty"`
	GivenName         string           `json:"given_name,omitempty"`
	FamilyName        string           `json:"family_name,omitempty"`
	UpdatedAt         keys.NumericDate `json:"updated_at,omitempty"`
	Email             string           `json:"email,omitempty"`
	EmailVerified     *bool            `json:"email_verified,omitempty"`
}

func claimsForScope(u storage.User, scope []string) userClaims {
	var c userClaims
	if hasScope(scope, "profile") {
		c.PreferredUsername = u.Username
		c.GivenName = u.FirstName
		c.FamilyName = u.LastName
		c.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
		c.UpdatedAt = keys.NewNumericDate(u.UpdatedAt)
	}
	if hasScope(scope, "email") && u.Email != "" {
		c.Email = u.Email
		v := u.EmailVerified
		c.EmailVerified = &v
	}
	return c
}

func hasScope(scope []string, s string) bool {
	for _, x := range scope {
		if x == s {
			return true
		}
	}
	return false
}

// tokenResponse is a successful token response (RFC 6749 §5.1, OIDC Core
// §3.1.3.3).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// randomToken returns n random bytes, base64url: refresh tokens (32 bytes:
// 256 bits), one-time tokens, jtis and ids.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is how a bearer secret (refresh or one-time token) is stored:
// hex SHA-256. The tokens carry 256 random bits, so a fast hash suffices.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// replayKey is the key that seals the stored response of a rotation, for an
// idempotent retry within the grace period. It is derived from the refresh
// token that was spent, which only its holder knows and the database does
// not hold (it holds SHA-256 of it, an independent function): so the sealed
// response at rest opens only for the client that presents that token again.
func replayKey(refreshToken string) []byte {
	m := hmac.New(sha256.New, []byte(refreshToken))
	m.Write([]byte("authd refresh-token replay v1"))
	return m.Sum(nil)
}

// tokenRequest is what a grant has decided, for issueTokens to sign.
type tokenRequest struct {
	grant    string // for metrics: password, refresh_token, …
	client   *client
	user     *storage.User // nil for client_credentials
	session  *storage.Session
	scope    []string
	nonce    string
	refresh  string // the new refresh token, if any
	now      time.Time
	notAfter time.Time // tokens never outlive this (the session's end); zero for none
	// noIDToken leaves the ID token out even with openid: a refresh
	// response "might not contain an id_token" (OIDC Core §12.2), and
	// leaving it out halves the signing work of a refresh.
	noIDToken bool
}

// issueTokens signs the access token and, for openid, the ID token.
func (s *Server) issueTokens(tr tokenRequest) (tokenResponse, error) {
	exp := tr.now.Add(s.cfg.Tokens.AccessTTL)
	if !tr.notAfter.IsZero() && tr.notAfter.Before(exp) {
		exp = tr.notAfter
	}
	scope := strings.Join(tr.scope, " ")
	ac := accessClaims{
		Claims: keys.Claims{
			Issuer:   s.cfg.Issuer,
			Audience: keys.Audience(s.cfg.Tokens.Audience),
			Expiry:   keys.NewNumericDate(exp),
			IssuedAt: keys.NewNumericDate(tr.now),
			ID:       randomToken(16),
		},
		ClientID: tr.client.id,
		Scope:    scope,
	}
	if tr.user != nil {
		ac.Subject = tr.user.ID
		ac.SessionID = tr.session.ID
		ac.AuthTime = keys.NewNumericDate(tr.session.AuthTime)
	} else {
		ac.Subject = tr.client.id // RFC 9068 §2.2: sub is the client for client_credentials
	}
	at, err := s.keys.Sign(typAccess, ac)
	if err != nil {
		return tokenResponse{}, err
	}
	if _, alg, ok := s.keys.Active(); ok {
		s.metrics.tokens.WithLabelValues(tr.grant, alg).Inc()
	}
	resp := tokenResponse{
		AccessToken:  at,
		TokenType:    "Bearer",
		ExpiresIn:    int64(exp.Sub(tr.now).Round(time.Second) / time.Second),
		RefreshToken: tr.refresh,
		Scope:        scope,
	}
	if tr.user != nil && hasScope(tr.scope, "openid") && !tr.noIDToken {
		idExp := tr.now.Add(s.cfg.Tokens.IDTTL)
		ic := idClaims{
			Claims: keys.Claims{
				Issuer:   s.cfg.Issuer,
				Subject:  tr.user.ID,
				Audience: keys.Audience{tr.client.id},
				Expiry:   keys.NewNumericDate(idExp),
				IssuedAt: keys.NewNumericDate(tr.now),
			},
			AuthTime:        keys.NewNumericDate(tr.session.AuthTime),
			Nonce:           tr.nonce,
			AuthorizedParty: tr.client.id,
			SessionID:       tr.session.ID,
			userClaims:      claimsForScope(*tr.user, tr.scope),
		}
		if resp.IDToken, err = s.keys.Sign(typID, ic); err != nil {
			return tokenResponse{}, err
		}
	}
	return resp, nil
}
