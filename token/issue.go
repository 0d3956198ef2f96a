package token

import (
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// Config is what issuing and verifying tokens need of the configuration.
type Config struct {
	Issuer    string
	Audience  []string
	AccessTTL time.Duration
	IDTTL     time.Duration
	// AccessClaims are the identity claims released in access tokens
	// (subset of preferred_username, email, email_verified, name), each
	// only when the token's scope would release it at userinfo.
	AccessClaims []string
}

// Service issues and verifies authd's tokens.
type Service struct {
	cfg  Config
	keys *keys.Manager
	view *View
	now  func() time.Time
	// onIssue is called for every access token signed (metrics).
	onIssue func(grant, alg string)
}

// NewService returns a token service signing with km and consulting view.
// onIssue may be nil.
func NewService(cfg Config, km *keys.Manager, view *View, now func() time.Time, onIssue func(grant, alg string)) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, keys: km, view: view, now: now, onIssue: onIssue}
}

// View is the service's view of revoked sessions and tokens.
func (s *Service) View() *View { return s.view }

// Issuer is the iss of every token.
func (s *Service) Issuer() string { return s.cfg.Issuer }

// Request is what a grant has decided, for Issue to sign.
type Request struct {
	Grant    string // for metrics: password, refresh_token, …
	ClientID string
	User     *storage.User // nil for client_credentials
	Session  *storage.Session
	Scope    []string
	Nonce    string
	Refresh  string // the new refresh token, if any
	Now      time.Time
	NotAfter time.Time // tokens never outlive this (the session's end); zero for none
	// NoIDToken leaves the ID token out even with openid: a refresh
	// response "might not contain an id_token" (OIDC Core §12.2), and
	// leaving it out halves the signing work of a refresh.
	NoIDToken bool
	// Legacy adds djangorestframework-jwt's payload (user_id, username,
	// email, orig_iat) for tokens of the Django-era paths.
	Legacy bool
}

// Issue signs the access token and, for openid, the ID token.
func (s *Service) Issue(r Request) (Response, error) {
	exp := r.Now.Add(s.cfg.AccessTTL)
	if !r.NotAfter.IsZero() && r.NotAfter.Before(exp) {
		exp = r.NotAfter
	}
	scope := strings.Join(r.Scope, " ")
	ac := Access{
		Claims: keys.Claims{
			Issuer:   s.cfg.Issuer,
			Audience: keys.Audience(s.cfg.Audience),
			Expiry:   keys.NewNumericDate(exp),
			IssuedAt: keys.NewNumericDate(r.Now),
			ID:       Random(16),
		},
		ClientID: r.ClientID,
		Scope:    scope,
	}
	if r.User != nil {
		ac.Subject = r.User.ID
		ac.SessionID = r.Session.ID
		ac.AuthTime = keys.NewNumericDate(r.Session.AuthTime)
		s.identityClaims(&ac, *r.User, r.Scope)
		if r.Legacy {
			pk := r.User.PK
			ac.UserID = &pk
			ac.Username = r.User.Username
			ac.Email = r.User.Email
			ac.OrigIAT = keys.NewNumericDate(r.Session.AuthTime)
		}
	} else {
		ac.Subject = r.ClientID // RFC 9068 §2.2: sub is the client for client_credentials
	}
	at, err := s.keys.Sign(keys.TypeAccessToken, ac)
	if err != nil {
		return Response{}, err
	}
	if s.onIssue != nil {
		if _, alg, ok := s.keys.Active(); ok {
			s.onIssue(r.Grant, alg)
		}
	}
	resp := Response{
		AccessToken:  at,
		TokenType:    "Bearer",
		ExpiresIn:    int64(exp.Sub(r.Now).Round(time.Second) / time.Second),
		RefreshToken: r.Refresh,
		Scope:        scope,
	}
	if r.User != nil && slices.Contains(r.Scope, "openid") && !r.NoIDToken {
		ic := ID{
			Claims: keys.Claims{
				Issuer:   s.cfg.Issuer,
				Subject:  r.User.ID,
				Audience: keys.Audience{r.ClientID},
				Expiry:   keys.NewNumericDate(r.Now.Add(s.cfg.IDTTL)),
				IssuedAt: keys.NewNumericDate(r.Now),
			},
			AuthTime:        keys.NewNumericDate(r.Session.AuthTime),
			Nonce:           r.Nonce,
			AuthorizedParty: r.ClientID,
			SessionID:       r.Session.ID,
			UserClaims:      ClaimsForScope(*r.User, r.Scope),
		}
		if resp.IDToken, err = s.keys.Sign(keys.TypeIDToken, ic); err != nil {
			return Response{}, err
		}
	}
	return resp, nil
}

// identityClaims copies the configured identity claims into an access
// token, each only when the scope releases it at userinfo (RFC 9068
// §2.2.3.1: the same privacy rules as the ID token).
func (s *Service) identityClaims(ac *Access, u storage.User, scope []string) {
	if len(s.cfg.AccessClaims) == 0 {
		return
	}
	uc := ClaimsForScope(u, scope)
	for _, c := range s.cfg.AccessClaims {
		switch c {
		case "preferred_username":
			ac.PreferredUsername = uc.PreferredUsername
		case "name":
			ac.Name = uc.Name
		case "email":
			ac.Email = uc.Email
		case "email_verified":
			ac.EmailVerified = uc.EmailVerified
		}
	}
}
