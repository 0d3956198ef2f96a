package token

import (
	"errors"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/keys"
)

// VerifyAccess checks an access token as a resource server of authd's own
// would: signature with a published key, typ at+jwt, iss, exp; then that its
// session has not ended and its jti is not revoked (from the in-memory view,
// not the database). Every surface that accepts access tokens calls it.
// Failures are errs.InvalidToken with the reason.
func (s *Service) VerifyAccess(raw string) (Access, error) {
	var ac Access
	err := s.keys.Verify(raw, keys.Expected{Type: keys.TypeAccessToken, Issuer: s.cfg.Issuer, Now: s.now()}, &ac)
	if err != nil {
		if errors.Is(err, keys.ErrExpired) {
			return ac, errs.InvalidToken(errs.ReasonTokenExpired, "the access token expired")
		}
		return ac, errs.InvalidToken(errs.ReasonTokenInvalid, "the access token is invalid")
	}
	if s.view.Dead(ac.SessionID, ac.ID) {
		return ac, errs.InvalidToken(errs.ReasonTokenRevoked, "the access token was revoked")
	}
	return ac, nil
}

// VerifyIDHint checks an id_token_hint (OIDC RP-Initiated Logout §2): it may
// have expired, so exp is not checked; signature (with any key of the JWKS,
// retired ones included), typ and iss are. fresh reports whether it has not
// expired yet.
func (s *Service) VerifyIDHint(raw string) (ic ID, fresh bool, err error) {
	now := s.now()
	if err := s.keys.Verify(raw, keys.Expected{Type: keys.TypeIDToken, Issuer: s.cfg.Issuer, Now: now, IgnoreExpiry: true}, &ic); err != nil {
		return ID{}, false, err
	}
	return ic, now.Before(ic.Expiry.Time()), nil
}
