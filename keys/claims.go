package keys

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Claims are the registered JWT claims (RFC 7519 §4.1) that Verify checks.
// Embed it in a token's own claim struct; encoding/json flattens it:
//
//	type AccessClaims struct {
//		keys.Claims
//		ClientID string `json:"client_id"`
//		Scope    string `json:"scope"`
//	}
type Claims struct {
	Issuer    string      `json:"iss,omitempty"`
	Subject   string      `json:"sub,omitempty"`
	Audience  Audience    `json:"aud,omitempty"`
	Expiry    NumericDate `json:"exp,omitempty"`
	NotBefore NumericDate `json:"nbf,omitempty"`
	IssuedAt  NumericDate `json:"iat,omitempty"`
	ID        string      `json:"jti,omitempty"`
}

// Audience is the aud claim. RFC 7519 §4.1.3 lets it be one string or an
// array of strings; it is written as a string when it has one member (what
// OIDC clients expect of an ID token) and as an array otherwise, and read in
// either form.
type Audience []string

// MarshalJSON writes one audience as a string, several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON reads a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("aud: want a string or an array of strings: %w", err)
	}
	*a = l
	return nil
}

// Contains reports whether aud names s.
func (a Audience) Contains(s string) bool { return slices.Contains(a, s) }

// NumericDate is a JWT time (RFC 7519 §2): whole seconds since the Unix
// epoch. The zero value means "absent" (it is omitted with omitempty).
// Non-integer values, which RFC 7519 allows but authd never writes, are
// refused when reading.
type NumericDate int64

// NewNumericDate returns t as a NumericDate, truncated to the second.
func NewNumericDate(t time.Time) NumericDate { return NumericDate(t.Unix()) }

// Time returns d as a UTC time; the zero time for the zero NumericDate.
func (d NumericDate) Time() time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(int64(d), 0).UTC()
}

// UnmarshalJSON reads a JSON integer.
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("NumericDate: want whole seconds, got %.20q", b)
	}
	*d = NumericDate(n)
	return nil
}
