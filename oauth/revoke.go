package oauth

import (
	"context"
	"strings"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/token"
)

// Revoke is token revocation (RFC 7009). A refresh token ends its whole
// family (the session); an access token ends its session and has its jti
// listed as revoked until it expires. Unknown, invalid and other clients'
// tokens change nothing and are no error (§2.2); a storage failure is
// errs.Storage, never a success that did not revoke (§2.2.1).
func (s *Service) Revoke(ctx context.Context, cl *Client, tok, hint string) error {
	if tok == "" {
		return errs.OAuth("invalid_request", "token is required")
	}
	// token_type_hint is only a hint (§2.1): both kinds are tried, the
	// hinted one first. An access token is a JWS (it has dots); a refresh
	// token never does, so the shape decides as well as the hint.
	tryRefresh := func() (bool, error) { return s.revokeRefresh(ctx, cl, tok) }
	tryAccess := func() (bool, error) { return s.revokeAccess(ctx, cl, tok) }
	order := []func() (bool, error){tryRefresh, tryAccess}
	if hint == "access_token" || strings.Count(tok, ".") == 2 {
		order[0], order[1] = order[1], order[0]
	}
	for _, try := range order {
		done, err := try()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	return nil
}

// revokeRefresh ends the family of a refresh token of client cl: its
// current token or a genuine older one. It reports whether tok was a
// refresh token of a live family (of any client).
func (s *Service) revokeRefresh(ctx context.Context, cl *Client, tok string) (bool, error) {
	_, sess, _, standing, err := s.lookupRefresh(ctx, tok)
	if err != nil || standing == refreshInvalid {
		return false, err
	}
	if sess.ClientID != cl.ID {
		return true, nil // another client's token: nothing revoked (§2.1)
	}
	return true, s.sessions.End(ctx, sess.ID, sess.UserID, cl.ID, "revoked")
}

// revokeAccess revokes an access token of client cl. It reports whether tok
// was an access token signed by authd.
func (s *Service) revokeAccess(ctx context.Context, cl *Client, tok string) (bool, error) {
	ac, err := s.tokens.VerifyAccess(tok)
	if err != nil {
		if errs.ReasonOf(err) != errs.ReasonTokenRevoked {
			return false, nil // expired or not ours: nothing left to revoke
		}
		return true, nil // revoked already
	}
	if ac.ClientID != cl.ID {
		return true, nil
	}
	// The session ends first: once the jti is listed, a retry of this
	// request finds the token revoked already and stops there, so a session
	// left live by a failure between the two writes would stay live.
	if ac.ForUser() {
		if err := s.sessions.End(ctx, ac.SessionID, ac.Subject, cl.ID, "revoked"); err != nil {
			return false, err
		}
	}
	exp := ac.Expiry.Time()
	if err := s.store.RevokeJTI(ctx, ac.ID, exp); err != nil {
		return false, errs.Storage(err)
	}
	s.tokens.View().RevokeJTI(ac.ID, exp)
	return true, nil
}

// Introspection is an RFC 7662 §2.2 response. An inactive token gets
// {"active": false} and nothing else.
type Introspection struct {
	Active    bool          `json:"active"`
	Scope     string        `json:"scope,omitempty"`
	ClientID  string        `json:"client_id,omitempty"`
	Username  string        `json:"username,omitempty"`
	TokenType string        `json:"token_type,omitempty"`
	Exp       int64         `json:"exp,omitempty"`
	Iat       int64         `json:"iat,omitempty"`
	Subject   string        `json:"sub,omitempty"`
	Audience  keys.Audience `json:"aud,omitempty"`
	Issuer    string        `json:"iss,omitempty"`
	JTI       string        `json:"jti,omitempty"`
	SessionID string        `json:"sid,omitempty"`
}

// Introspect is token introspection (RFC 7662) for confidential clients.
// Access tokens of any client are described (resource servers introspect
// tokens issued to others); a refresh token only to its own client, since
// it is that client's secret.
func (s *Service) Introspect(ctx context.Context, cl *Client, tok string) (Introspection, error) {
	if cl.Public {
		return Introspection{}, errs.InvalidClient("introspection needs a confidential client")
	}
	if tok == "" {
		return Introspection{}, errs.OAuth("invalid_request", "token is required")
	}
	if strings.Count(tok, ".") == 2 {
		return s.introspectAccess(ctx, tok)
	}
	return s.introspectRefresh(ctx, cl, tok)
}

func (s *Service) introspectAccess(ctx context.Context, tok string) (Introspection, error) {
	ac, err := s.tokens.VerifyAccess(tok)
	if err != nil {
		return Introspection{}, nil
	}
	// Verification allows clock skew past exp; introspection answers for
	// this server's clock alone (RFC 7662 §2.2: active means "not expired").
	if !s.now().Before(ac.Expiry.Time()) {
		return Introspection{}, nil
	}
	res := Introspection{
		Active: true, Scope: ac.Scope, ClientID: ac.ClientID, TokenType: "Bearer",
		Exp: int64(ac.Expiry), Iat: int64(ac.IssuedAt), Subject: ac.Subject,
		Audience: ac.Audience, Issuer: ac.Issuer, JTI: ac.ID, SessionID: ac.SessionID,
	}
	if !ac.ForUser() {
		return res, nil // a client_credentials token: no user
	}
	u, err := s.accounts.CurrentUser(ctx, ac)
	if err != nil {
		if errs.ReasonOf(err) == errs.ReasonStorage {
			return Introspection{}, err
		}
		return Introspection{}, nil
	}
	res.Username = u.Username
	return res, nil
}

func (s *Service) introspectRefresh(ctx context.Context, cl *Client, tok string) (Introspection, error) {
	now := s.now()
	_, sess, u, standing, err := s.lookupRefresh(ctx, tok)
	if err != nil {
		return Introspection{}, err
	}
	// Only the current token of a live family is active.
	if standing != refreshCurrent || sess.ClientID != cl.ID || !now.Before(sess.Refresh.ExpiresAt) || !sessionLive(sess, u, now) {
		return Introspection{}, nil
	}
	// The current token was issued at the family's last use: its creation
	// or its last rotation.
	return Introspection{
		Active: true, Scope: sess.Scope, ClientID: sess.ClientID, Username: u.Username,
		TokenType: "refresh_token", Exp: sess.Refresh.ExpiresAt.Unix(), Iat: sess.LastUsedAt.Unix(),
		Subject: sess.UserID, Issuer: s.cfg.Issuer, SessionID: sess.ID,
	}, nil
}

// Userinfo is the UserInfo response (OIDC Core §5.3.2).
type Userinfo struct {
	Subject string `json:"sub"`
	token.UserClaims
}

// Userinfo answers OIDC UserInfo for a verified access token, with the
// claims its scope releases.
func (s *Service) Userinfo(ctx context.Context, ac token.Access) (Userinfo, error) {
	if !ac.ForUser() || !ac.HasScope("openid") {
		// OIDC Core §5.3: UserInfo needs a token issued for a user with the
		// openid scope (RFC 6750 §3.1 insufficient_scope).
		return Userinfo{}, errs.InsufficientScope("openid", "the access token lacks the openid scope")
	}
	u, err := s.accounts.CurrentUser(ctx, ac)
	if err != nil {
		return Userinfo{}, err
	}
	return Userinfo{Subject: u.ID, UserClaims: token.ClaimsForScope(u, token.ParseScope(ac.Scope))}, nil
}
