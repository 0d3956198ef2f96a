package keys

import "errors"

// Errors of Verify. Every error Verify returns for a bad token wraps exactly
// one of these (test with errors.Is); the only others are misuse by the
// caller (Expected.Type or Issuer empty, dst not a pointer). Only ErrMalformed, ErrAlgorithm, ErrHeader,
// ErrUnknownKey and ErrSignature can come from a token whose signature was not
// checked: the claim errors (ErrType onwards) are reported only for tokens
// this server really signed, so a forged token never learns more than "bad
// signature".
var (
	// ErrMalformed: not one compact JWS of at most MaxTokenSize bytes with
	// canonical base64url parts and JSON header and claims (a JWE, a JWS in
	// JSON serialization, 1 MiB of dots, a claim of the wrong JSON type).
	ErrMalformed = errors.New("keys: malformed token")
	// ErrAlgorithm: alg is not RS256 or EdDSA ("none", HS256, ...), or not the
	// algorithm of the key named by kid.
	ErrAlgorithm = errors.New("keys: token algorithm not accepted")
	// ErrHeader: the header holds a parameter other than alg, kid and typ
	// (jku, x5u, jwk, x5c, crit, ...), or a duplicate one.
	ErrHeader = errors.New("keys: token header not accepted")
	// ErrUnknownKey: kid is missing or names no key of the current set (never
	// ours, or pruned).
	ErrUnknownKey = errors.New("keys: token signed by an unknown key")
	// ErrSignature: the signature does not verify (tampered, empty, or made
	// with another key).
	ErrSignature = errors.New("keys: token signature invalid")
	// ErrType: typ is not the expected token type.
	ErrType = errors.New("keys: wrong token type")
	// ErrIssuer: iss is not the expected issuer.
	ErrIssuer = errors.New("keys: wrong token issuer")
	// ErrAudience: aud does not name the expected audience.
	ErrAudience = errors.New("keys: token not meant for this audience")
	// ErrExpired: exp is missing or more than the skew in the past.
	ErrExpired = errors.New("keys: token expired")
	// ErrNotYetValid: nbf or iat is more than the skew in the future.
	ErrNotYetValid = errors.New("keys: token not yet valid")
)

// Errors of loading keys (NewManager, Reload, Reseal).
var (
	// ErrEncryptionKey: a stored private key cannot be opened with the
	// configured keys.encryption_key: it is sealed and no key is set, sealed
	// under another key, stored unsealed while a key is set, or its sealed
	// bytes were altered (AES-GCM cannot tell a wrong key from tampering).
	ErrEncryptionKey = errors.New("keys: private key does not open with keys.encryption_key")
	// ErrBadKey: a stored key is unusable: unknown storage format, not PKCS#8,
	// a key type or size that does not fit its algorithm, a kid that is not
	// its thumbprint, a public JWK that is not its public key, an unknown
	// state.
	ErrBadKey = errors.New("keys: stored key invalid")
)

// ErrNoActiveKey is returned by Sign when the key set has no active key
// (it cannot happen after NewManager succeeded unless the database was
// edited by hand).
var ErrNoActiveKey = errors.New("keys: no active signing key")
