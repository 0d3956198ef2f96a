package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxTokenSize is the longest token Verify looks at, in bytes. authd's
// largest tokens (RS256-4096 with every claim) are under 2 KiB.
const MaxTokenSize = 8 << 10

// errTooLarge is returned before any work is done on an oversized token; it
// is built once so that rejecting a megabyte of junk allocates nothing.
var errTooLarge = fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenSize)

// Expected is what Verify requires of a token besides a valid signature by a
// key of the set.
type Expected struct {
	// Type is the typ the header must carry: TypeAccessToken or
	// TypeIDToken. Required: checking it keeps an ID token from being used
	// as an access token and the other way round (RFC 8725 §3.11).
	Type string
	// Issuer must equal iss exactly (RFC 7519 §4.1.1). Required.
	Issuer string
	// Audience must be one of the aud values; "" skips the check.
	Audience string
	// Now is the time to check exp, nbf and iat against; zero means
	// Options.Now().
	Now time.Time
	// IgnoreExpiry skips the exp check, for an id_token_hint (OIDC
	// RP-Initiated Logout §2), which may have expired. nbf and iat are still
	// checked, and the signing key must still be in the set.
	IgnoreExpiry bool
}

// Verify checks token and, if every check passes, decodes its claims into
// dst (a pointer to a struct with json tags, typically embedding Claims;
// nil to decode nothing). dst is replaced, not merged into, and is left
// untouched on any error.
//
// The checks, in order (the first failure is returned, wrapping the sentinel
// error named):
//
//  1. at most MaxTokenSize bytes, before any parsing (ErrMalformed);
//  2. a compact JWS: exactly three parts, each canonical unpadded base64url
//     — a JWE (five parts) or the JSON serialisation is refused
//     (ErrMalformed);
//  3. a header that is a JSON object of string members alg, kid and typ and
//     nothing else: jku, x5u, jwk, x5c (keys the token chooses for itself),
//     crit and every other parameter are refused (ErrHeader);
//  4. alg is RS256 or EdDSA — never "none" or an HMAC (ErrAlgorithm);
//  5. kid names a key of the set (ErrUnknownKey);
//  6. alg is that key's algorithm (ErrAlgorithm);
//  7. the signature, with go-jose restricted to that one algorithm
//     (ErrSignature);
//  8. typ matches Expected.Type (ErrType);
//  9. iss (ErrIssuer), aud (ErrAudience), exp (ErrExpired), nbf and iat
//     (ErrNotYetValid), with Options.Skew of leeway; a token without exp
//     is expired.
//
// The signature is checked before any claim, so a token both expired and
// tampered with fails with ErrSignature.
func (m *Manager) Verify(token string, want Expected, dst any) error {
	if want.Type == "" || want.Issuer == "" {
		return errors.New("keys: verify: Expected.Type and Expected.Issuer are required")
	}
	// The size cap comes first: the token is attacker input, and nothing
	// below should scale with a megabyte of it.
	if len(token) > MaxTokenSize {
		return errTooLarge
	}
	h, rest, ok1 := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(sig, '.') >= 0 {
		// RFC 7516 §7.1: a JWE has five parts; authd issues none and
		// accepts none.
		return fmt.Errorf("%w: not a compact JWS (want three parts)", ErrMalformed)
	}
	// Canonical base64url only: Go's decoder skips newlines and ignores
	// non-zero trailing bits, and go-jose signs over its own re-encoding of
	// the payload, so without this one token could be written several ways
	// and slip past anything keyed on the token string.
	if !canonicalB64(h) || !canonicalB64(payload) || !canonicalB64(sig) {
		return fmt.Errorf("%w: part not in canonical base64url", ErrMalformed)
	}
	hdr, err := parseHeader(h)
	if err != nil {
		return err
	}
	// RFC 8725 §3.1: the algorithm list is fixed; the token does not get to
	// pick "none" or HS256 (with our RSA public key as the HMAC secret).
	if hdr.Alg != RS256 && hdr.Alg != EdDSA {
		return fmt.Errorf("%w: alg %.20q", ErrAlgorithm, hdr.Alg)
	}
	// Any key of the set, next keys included: another process may have
	// promoted one and signed with it before this one reloaded.
	k := m.snap.Load().byKid[hdr.Kid]
	if k == nil {
		return fmt.Errorf("%w: kid %.64q", ErrUnknownKey, hdr.Kid)
	}
	// Each key has one algorithm (RFC 7517 §4.4): an RS256 header on an
	// Ed25519 kid is refused, never reinterpreted.
	if hdr.Alg != k.alg {
		return fmt.Errorf("%w: alg %s on a %s key", ErrAlgorithm, hdr.Alg, k.alg)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.alg)})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	body, err := jws.Verify(k.public)
	if err != nil {
		return fmt.Errorf("%w: kid %s", ErrSignature, k.kid)
	}
	// From here on the token is one this server signed.
	if !typeMatches(hdr.Typ, want.Type) {
		return fmt.Errorf("%w: typ %.40q, want %q", ErrType, hdr.Typ, want.Type)
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	now := want.Now
	if now.IsZero() {
		now = m.opts.Now()
	}
	if err := m.checkClaims(&c, want, now); err != nil {
		return err
	}
	if dst == nil {
		return nil
	}
	p := reflect.ValueOf(dst)
	if p.Kind() != reflect.Pointer || p.IsNil() {
		return fmt.Errorf("keys: verify: dst must be a non-nil pointer, got %T", dst)
	}
	fresh := reflect.New(p.Elem().Type())
	if err := json.Unmarshal(body, fresh.Interface()); err != nil {
		return fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	p.Elem().Set(fresh.Elem())
	return nil
}

// checkClaims checks the registered claims (RFC 7519 §4.1).
func (m *Manager) checkClaims(c *Claims, want Expected, now time.Time) error {
	skew := m.opts.Skew
	if c.Issuer != want.Issuer {
		return fmt.Errorf("%w: iss %.100q, want %q", ErrIssuer, c.Issuer, want.Issuer)
	}
	// RFC 7519 §4.1.3: reject the token if we are not among its audiences.
	if want.Audience != "" && !c.Audience.Contains(want.Audience) {
		return fmt.Errorf("%w: aud does not name %q", ErrAudience, want.Audience)
	}
	if !want.IgnoreExpiry {
		if c.Expiry == 0 {
			return fmt.Errorf("%w: no exp", ErrExpired)
		}
		// RFC 7519 §4.1.4: valid only while now is before exp (plus skew).
		if !now.Before(c.Expiry.Time().Add(skew)) {
			return fmt.Errorf("%w: exp %s", ErrExpired, c.Expiry.Time().Format(time.RFC3339))
		}
	}
	// RFC 7519 §4.1.5.
	if c.NotBefore != 0 && now.Add(skew).Before(c.NotBefore.Time()) {
		return fmt.Errorf("%w: nbf %s", ErrNotYetValid, c.NotBefore.Time().Format(time.RFC3339))
	}
	// A token issued in the future was not issued by a server with a sane
	// clock.
	if c.IssuedAt != 0 && now.Add(skew).Before(c.IssuedAt.Time()) {
		return fmt.Errorf("%w: iat %s", ErrNotYetValid, c.IssuedAt.Time().Format(time.RFC3339))
	}
	return nil
}

// typeMatches compares a typ header with the wanted type as RFC 7515 §4.1.9
// says: media types compare case-insensitively, and a typ without '/' stands
// for "application/" + typ. So "at+jwt" and "application/at+jwt" are both
// access tokens, as RFC 9068 §4 requires a resource server to accept.
func typeMatches(typ, want string) bool {
	if i := strings.IndexByte(typ, '/'); i >= 0 {
		if !strings.EqualFold(typ[:i+1], "application/") {
			return false
		}
		typ = typ[i+1:]
	}
	return typ != "" && strings.EqualFold(typ, want)
}

// parseHeader decodes a protected header and refuses anything authd does not
// write itself: a member other than alg, kid and typ, a duplicate member
// (which parsers resolve differently), a non-string value, trailing data.
func parseHeader(seg string) (header, error) {
	var h header
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return h, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return h, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	var seen [3]bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return h, fmt.Errorf("%w: header: %w", ErrMalformed, err)
		}
		name, _ := t.(string)
		var dst *string
		var i int
		switch name {
		case "alg":
			dst, i = &h.Alg, 0
		case "kid":
			dst, i = &h.Kid, 1
		case "typ":
			dst, i = &h.Typ, 2
		default:
			// jku and x5u would make a verifier fetch a key from where the
			// token says; jwk and x5c would have it trust a key the token
			// carries (RFC 8725 §3.10); crit names extensions we do not
			// implement (RFC 7515 §4.1.11). authd writes none of them, so
			// every parameter outside the three it writes is refused.
			return h, fmt.Errorf("%w: parameter %.20q", ErrHeader, name)
		}
		if seen[i] {
			return h, fmt.Errorf("%w: duplicate %q", ErrHeader, name)
		}
		seen[i] = true
		if err := dec.Decode(dst); err != nil {
			return h, fmt.Errorf("%w: header %s: %w", ErrMalformed, name, err)
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return h, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return h, fmt.Errorf("%w: data after the header object", ErrMalformed)
	}
	return h, nil
}

// canonicalB64 reports whether s is unpadded base64url (RFC 7515 §2) in the
// one encoding that decodes to its bytes: alphabet only, no length of the
// form 4n+1, zero bits after the last full byte (RFC 4648 §3.5).
func canonicalB64(s string) bool {
	var last byte
	for i := 0; i < len(s); i++ {
		v, ok := b64Value(s[i])
		if !ok {
			return false
		}
		last = v
	}
	switch len(s) % 4 {
	case 1:
		return false
	case 2:
		return last&0x0f == 0
	case 3:
		return last&0x03 == 0
	}
	return true
}

func b64Value(c byte) (byte, bool) {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A', true
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26, true
	case '0' <= c && c <= '9':
		return c - '0' + 52, true
	case c == '-':
		return 62, true
	case c == '_':
		return 63, true
	}
	return 0, false
}
