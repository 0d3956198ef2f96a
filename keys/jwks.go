package keys

import (
	"crypto/sha256"
	"encoding/json"
)

// buildJWKS serialises the public keys of ks as a JWK Set (RFC 7517 §5) and
// returns it with its strong ETag (RFC 9110 §8.8.3): the quoted base64url
// SHA-256 of the bytes, so equal sets give equal ETags in every process.
// Only publicJWK values go in, and that type has no private member.
func buildJWKS(ks []*key) (body []byte, etag string) {
	set := struct {
		Keys []publicJWK `json:"keys"`
	}{Keys: make([]publicJWK, 0, len(ks))}
	for _, k := range ks {
		set.Keys = append(set.Keys, k.jwk)
	}
	body, err := json.Marshal(set)
	if err != nil {
		panic("keys: marshal JWKS: " + err.Error()) // plain strings only: cannot fail
	}
	sum := sha256.Sum256(body)
	return body, `"` + b64(sum[:]) + `"`
}
