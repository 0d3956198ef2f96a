package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
)

// grantPassword is the resource owner password credentials grant (RFC 6749
// §4.3). Unknown user, wrong password and disabled user get the same answer
// after the same work (account.Service.Authenticate).
func (s *Service) grantPassword(ctx context.Context, r TokenRequest) (token.Response, error) {
	username, pw := r.Form.Get("username"), r.Form.Get("password")
	if username == "" || pw == "" {
		return token.Response{}, errs.OAuth("invalid_request", "username and password are required")
	}
	scope, err := token.GrantScope(r.Form.Get("scope"), r.Client.Scopes)
	if err != nil {
		return token.Response{}, err
	}
	u, err := s.accounts.Authenticate(ctx, username, pw, r.Address)
	if err != nil {
		return token.Response{}, err
	}
	resp, _, err := s.startSession(ctx, GrantPassword, r.Client, u, scope, time.Time{}, "", r.UserAgent, r.Address, false)
	return resp, err
}

// grantClientCredentials is the client credentials grant (RFC 6749 §4.4):
// for confidential clients only, no refresh token.
func (s *Service) grantClientCredentials(ctx context.Context, r TokenRequest) (token.Response, error) {
	if r.Client.Public {
		return token.Response{}, errs.OAuth("unauthorized_client", "a public client cannot use client_credentials")
	}
	scope, err := token.GrantScope(r.Form.Get("scope"), r.Client.Scopes)
	if err != nil {
		return token.Response{}, err
	}
	return s.tokens.Issue(token.Request{Grant: GrantClientCredentials, ClientID: r.Client.ID, Scope: scope, Now: s.now()})
}

var errBadRefresh = errs.OAuth("invalid_grant", "the refresh token is invalid, expired or revoked")

// grantRefresh is the refresh token grant (RFC 6749 §6) with rotation and
// reuse detection (RFC 9700 §4.14.2).
func (s *Service) grantRefresh(ctx context.Context, r TokenRequest) (token.Response, error) {
	presented, requested := r.Form.Get("refresh_token"), r.Form.Get("scope")
	if presented == "" {
		return token.Response{}, errs.OAuth("invalid_request", "refresh_token is required")
	}
	if len(presented) > token.MaxOpaqueLen {
		return token.Response{}, errBadRefresh
	}
	cl := r.Client
	oldHash := token.Hash(presented)
	now := s.now()
	// One read brings the token, its session and its user.
	old, sess, u, err := s.store.GetRefreshFamily(ctx, oldHash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return token.Response{}, errBadRefresh
	case err != nil:
		return token.Response{}, errs.Storage(err)
	}
	// The token is bound to the client it was issued to (RFC 6749 §6).
	if old.ClientID != cl.ID {
		return token.Response{}, errBadRefresh
	}
	if !old.SpentAt.IsZero() {
		return s.refreshReused(ctx, old, presented, now)
	}
	if !now.Before(old.ExpiresAt) || !sessionLive(sess, u, now) {
		return token.Response{}, errBadRefresh
	}
	// The scope may narrow, never widen (RFC 6749 §6). The new refresh
	// token keeps the scope first granted, so a later refresh can ask for
	// all of it again.
	scope, err := token.GrantScope(requested, token.ParseScope(old.Scope))
	if err != nil {
		return token.Response{}, err
	}

	refresh := token.Random(32)
	next := storage.RefreshToken{
		Hash:      token.Hash(refresh),
		SessionID: sess.ID,
		ClientID:  cl.ID,
		UserID:    u.ID,
		Scope:     old.Scope,
		CreatedAt: now,
		ExpiresAt: earliest(now.Add(s.cfg.RefreshIdleTTL), sess.ExpiresAt),
	}
	resp, err := s.tokens.Issue(token.Request{Grant: GrantRefreshToken, ClientID: cl.ID, User: &u, Session: &sess, Scope: scope,
		Refresh: refresh, Now: now, NotAfter: sess.ExpiresAt, NoIDToken: true})
	if err != nil {
		return token.Response{}, err
	}
	var replay []byte
	grace := s.cfg.RefreshReuseGrace
	if grace > 0 {
		body, err := json.Marshal(resp)
		if err != nil {
			return token.Response{}, err
		}
		if replay, err = token.Seal(token.ReplayKey(presented), body, []byte(oldHash)); err != nil {
			return token.Response{}, err
		}
	}
	err = s.store.RotateRefreshToken(ctx, oldHash, next, replay, now.Add(grace), now)
	switch {
	case errors.Is(err, storage.ErrSpent):
		// Another request rotated this token first: this one is a retry or
		// a replay. Decide from what the winner stored.
		old, err := s.store.GetRefreshToken(ctx, oldHash)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return token.Response{}, errBadRefresh
			}
			return token.Response{}, errs.Storage(err)
		}
		return s.refreshReused(ctx, old, presented, now)
	case errors.Is(err, storage.ErrNotFound):
		return token.Response{}, errBadRefresh // the session ended meanwhile
	case err != nil:
		return token.Response{}, errs.Storage(err)
	}
	return resp, nil
}

// sessionLive reports whether a session (and its user) can still mint
// tokens: not ended, not past its absolute end, user enabled. The refresh
// grant, refresh-token introspection and the Django-era refresh all ask
// this one question.
func sessionLive(sess storage.Session, u storage.User, now time.Time) bool {
	return sess.EndedAt.IsZero() && now.Before(sess.ExpiresAt) && !u.Disabled
}

// refreshReused answers a spent refresh token presented again by its own
// client. Within the grace period after its rotation it is an idempotent
// retry (a response lost on the network): the very same tokens are sent
// again and the family lives on. Otherwise it is reuse, the mark of a stolen
// token (RFC 9700 §4.14.2): the whole family (the session) ends, and that
// commits although the request fails.
func (s *Service) refreshReused(ctx context.Context, old storage.RefreshToken, presented string, now time.Time) (token.Response, error) {
	if s.cfg.RefreshReuseGrace > 0 && old.Replay != nil && now.Before(old.ReplayUntil) {
		if body, err := token.Open(token.ReplayKey(presented), old.Replay, []byte(old.Hash)); err == nil {
			var resp token.Response
			if err := json.Unmarshal(body, &resp); err == nil {
				return resp, nil
			}
		}
		// A replay that does not open cannot come from the holder of the
		// token; treat it as reuse.
	}
	s.audit.Event(ctx, "refresh.reuse_detected", "user_id", old.UserID, "client_id", old.ClientID, "session_id", old.SessionID)
	if err := s.sessions.End(ctx, old.SessionID, old.UserID, old.ClientID, "refresh_reuse"); err != nil {
		e, _ := errs.As(err)
		e.Cause = fmt.Errorf("revoking reused family: %w", e.Cause)
		return token.Response{}, e
	}
	return token.Response{}, errs.OAuth("invalid_grant", "the refresh token was already used; its session has been revoked")
}
