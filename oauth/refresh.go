package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
)

// Refresh tokens and their families (package refresh has the format and
// the argument for it). The family lives in its session's row: the hash of
// the current generation's token, the generation, and the family key that
// recognises any earlier generation as genuine without storing it.

var errBadRefresh = errs.OAuth("invalid_grant", "the refresh token is invalid, expired or revoked")

// presentedRefresh is a refresh token as a request presented it.
type presentedRefresh struct {
	raw string
	// legacy is a token of the format before refresh families had keys:
	// found by its hash, current or nothing.
	legacy bool
	parsed refresh.Parsed // when not legacy
	// hash is what the family stores for the token if it is current: the
	// hex SHA-256 of its random part (of the whole token, for legacy ones).
	hash string
}

// refreshStanding is where a presented refresh token stands in its family.
type refreshStanding int

const (
	// refreshInvalid: not a token of a live family of this server (malformed,
	// unknown, forged, a generation not yet reached, or its family ended).
	// It ends nothing.
	refreshInvalid refreshStanding = iota
	// refreshCurrent: the family's current token, which may rotate.
	refreshCurrent
	// refreshOlder: a genuine token of an earlier generation of a live
	// family, which only the server could have made: a retry within the
	// grace, or reuse.
	refreshOlder
)

// lookupRefresh finds the family (session) of a presented refresh token
// and where the token stands in it: the one place the refresh grant,
// revocation and introspection learn what a refresh token is. A v2 token
// names its family; the tag proves it genuine, and the generation and hash
// place it. Only a storage failure is an error (errs.Storage).
func (s *Service) lookupRefresh(ctx context.Context, presented string) (presentedRefresh, storage.Session, storage.User, refreshStanding, error) {
	p := presentedRefresh{raw: presented}
	none := func(err error) (presentedRefresh, storage.Session, storage.User, refreshStanding, error) {
		if err != nil {
			err = errs.Storage(err)
		}
		return p, storage.Session{}, storage.User{}, refreshInvalid, err
	}
	if len(presented) > token.MaxOpaqueLen {
		return none(nil)
	}
	var sid string
	if parsed, err := refresh.Parse(presented); err == nil {
		p.parsed, p.hash, sid = parsed, parsed.Hash(), parsed.FamilyID
	} else if refresh.Legacy(presented) {
		p.legacy, p.hash = true, token.Hash(presented)
		sid, err = s.store.LegacyRefreshSession(ctx, p.hash)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return none(nil)
		case err != nil:
			return none(err)
		}
	} else {
		return none(nil)
	}
	sess, u, err := s.store.GetSessionAndUser(ctx, sid)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return none(nil)
	case err != nil:
		return none(err)
	}
	f := sess.Refresh
	sameHash := f != nil && subtle.ConstantTimeCompare([]byte(p.hash), []byte(f.Hash)) == 1
	switch {
	case f == nil:
		// No refresh tokens, or the family ended.
	case p.legacy:
		if f.Key == nil && f.Generation == 0 && sameHash {
			return p, sess, u, refreshCurrent, nil
		}
	case f.Key == nil || !p.parsed.Genuine(f.Key):
		// Forged, or of another family: whoever knows a session id (access
		// tokens carry it) must not be able to end its family.
	case p.parsed.Generation == f.Generation:
		// A genuine tag with another random part can only be the work of
		// someone holding the family key: invalid, like any forgery.
		if sameHash {
			return p, sess, u, refreshCurrent, nil
		}
	case p.parsed.Generation < f.Generation:
		return p, sess, u, refreshOlder, nil
	}
	return p, sess, u, refreshInvalid, nil
}

// newFamily starts the refresh family of a new session: generation 1 with a
// fresh family key. It returns the token to hand out.
func (s *Service) newFamily(sess *storage.Session, now time.Time) string {
	key := refresh.NewFamilyKey()
	tok, hash := refresh.Mint(sess.ID, 1, key)
	sess.Refresh = &storage.RefreshFamily{
		Generation: 1,
		Hash:       hash,
		Key:        key,
		ExpiresAt:  earliest(now.Add(s.cfg.RefreshIdleTTL), sess.ExpiresAt),
	}
	return tok
}

// grantRefresh is the refresh token grant (RFC 6749 §6) with rotation and
// reuse detection (RFC 9700 §4.14.2).
func (s *Service) grantRefresh(ctx context.Context, r TokenRequest) (token.Response, error) {
	presented, requested := r.Form.Get("refresh_token"), r.Form.Get("scope")
	if presented == "" {
		return token.Response{}, errs.OAuth("invalid_request", "refresh_token is required")
	}
	cl := r.Client
	now := s.now()
	// One read brings the family, its session and its user.
	p, sess, u, standing, err := s.lookupRefresh(ctx, presented)
	switch {
	case err != nil:
		return token.Response{}, err
	case standing == refreshInvalid:
		return token.Response{}, errBadRefresh
	case sess.ClientID != cl.ID:
		// The token is bound to the client it was issued to (RFC 6749
		// §6); another client's attempt ends nothing.
		return token.Response{}, errBadRefresh
	case standing == refreshOlder:
		return s.refreshOlder(ctx, p, sess, now)
	}
	f := sess.Refresh
	if !now.Before(f.ExpiresAt) || !sessionLive(sess, u, now) {
		return token.Response{}, errBadRefresh
	}
	// The scope may narrow, never widen (RFC 6749 §6). The family keeps
	// the scope first granted, so a later refresh can ask for all of it
	// again.
	scope, err := token.GrantScope(requested, token.ParseScope(sess.Scope))
	if err != nil {
		return token.Response{}, err
	}

	key, newKey := f.Key, []byte(nil)
	if p.legacy {
		// The family leaves the legacy format with its first rotation.
		key = refresh.NewFamilyKey()
		newKey = key
	}
	next, nextHash := refresh.Mint(sess.ID, f.Generation+1, key)
	resp, err := s.tokens.Issue(token.Request{Grant: GrantRefreshToken, ClientID: cl.ID, User: &u, Session: &sess, Scope: scope,
		Refresh: next, Now: now, NotAfter: sess.ExpiresAt, NoIDToken: true})
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
		if replay, err = token.Seal(token.ReplayKey(presented), body, []byte(p.hash)); err != nil {
			return token.Response{}, err
		}
	}
	err = s.store.RotateRefresh(ctx, sess.ID, f.Generation, storage.RefreshRotation{
		Hash:        nextHash,
		Key:         newKey,
		ExpiresAt:   earliest(now.Add(s.cfg.RefreshIdleTTL), sess.ExpiresAt),
		Replay:      replay,
		ReplayUntil: now.Add(grace),
	}, now)
	switch {
	case errors.Is(err, storage.ErrSpent):
		// Another request rotated this generation first: this one is a
		// retry or a replay. Decide from what the winner stored.
		p, sess, _, standing, err := s.lookupRefresh(ctx, presented)
		switch {
		case err != nil:
			return token.Response{}, err
		case standing != refreshOlder:
			return token.Response{}, errBadRefresh
		}
		return s.refreshOlder(ctx, p, sess, now)
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

// refreshOlder answers a genuine token of an earlier generation presented
// by its own client. If it is the generation the family's last rotation
// spent, within the grace period after it, it is an idempotent retry (a
// response lost on the network): the very same tokens are sent again and
// the family lives on. Otherwise it is reuse, the mark of a stolen token
// (RFC 9700 §4.14.2): the whole family (the session) ends, and that commits
// although the request fails.
func (s *Service) refreshOlder(ctx context.Context, p presentedRefresh, sess storage.Session, now time.Time) (token.Response, error) {
	f := sess.Refresh
	if s.cfg.RefreshReuseGrace > 0 && f.Replay != nil && f.ReplayGeneration == p.parsed.Generation && now.Before(f.ReplayUntil) {
		// The replay opens only with a key derived from the very token the
		// rotation spent, which the database does not hold.
		if body, err := token.Open(token.ReplayKey(p.raw), f.Replay, []byte(p.hash)); err == nil {
			var resp token.Response
			if err := json.Unmarshal(body, &resp); err == nil {
				return resp, nil
			}
		}
		// A replay that does not open cannot come from the holder of the
		// token; treat it as reuse.
	}
	s.audit.Event(ctx, "refresh.reuse_detected", "user_id", sess.UserID, "client_id", sess.ClientID, "session_id", sess.ID,
		"generation", p.parsed.Generation, "current_generation", f.Generation)
	if err := s.sessions.End(ctx, sess.ID, sess.UserID, sess.ClientID, "refresh_reuse"); err != nil {
		e, _ := errs.As(err)
		e.Cause = fmt.Errorf("revoking reused family: %w", e.Cause)
		return token.Response{}, e
	}
	return token.Response{}, errs.OAuth("invalid_grant", "the refresh token was already used; its session has been revoked")
}
