package keys_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/authd/authd/keys"
)

// FuzzVerify feeds Verify arbitrary tokens, seeded with every rejection case
// and with valid tokens of both algorithms. Properties: it never panics;
// every error wraps one of the documented sentinels; and it accepts only the
// exact valid tokens — no other spelling of them (canonical base64url,
// non-malleable signatures).
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	want := wantAccess(t0)
	rsaTok, err := fx.m.Sign(keys.TypeAccessToken, newAccessClaims(t0, 15*time.Minute))
	if err != nil {
		f.Fatal(err)
	}
	// The next key is Ed25519: a token of it, made by hand, verifies too.
	edTok := craft(hdr("EdDSA", fx.kidE, "at+jwt"), claimsJSON(newAccessClaims(t0, 15*time.Minute)), edSigner(fx.ed))
	valid := map[string]bool{rsaTok: true, edTok: true}
	for tok := range valid {
		if err := fx.m.Verify(tok, want, nil); err != nil {
			f.Fatalf("seed token does not verify: %v", err)
		}
		f.Add(tok)
	}
	for _, tc := range rejectionCases(fx) {
		tok := tc.token
		if len(tok) > keys.MaxTokenSize+1 {
			tok = tok[:keys.MaxTokenSize+1] // the same rejection, a lighter corpus entry
		}
		f.Add(tok)
	}
	sentinels := []error{
		keys.ErrMalformed, keys.ErrAlgorithm, keys.ErrHeader, keys.ErrUnknownKey, keys.ErrSignature,
		keys.ErrType, keys.ErrIssuer, keys.ErrAudience, keys.ErrExpired, keys.ErrNotYetValid,
	}
	f.Fuzz(func(t *testing.T, tok string) {
		var dst accessClaims
		err := fx.m.Verify(tok, want, &dst)
		if err == nil {
			if !valid[tok] {
				t.Fatalf("Verify accepted a token it never signed: %q", tok)
			}
			return
		}
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("Verify error %v wraps %d sentinel errors, want exactly 1", err, n)
		}
		if !reflect.DeepEqual(dst, accessClaims{}) {
			t.Fatalf("dst filled on error %v", err)
		}
	})
}
