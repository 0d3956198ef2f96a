package keys

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// Signature algorithms (RFC 7518 §3.1, RFC 8037 §3.1). They are the only ones
// authd signs with and the only ones Verify accepts.
const (
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256
	EdDSA = "EdDSA" // Ed25519
)

// SupportedAlgorithms returns every algorithm authd can sign and verify with,
// whether or not a key of it exists now: [RS256, EdDSA].
func SupportedAlgorithms() []string { return []string{RS256, EdDSA} }

// RSA modulus sizes. Below 2048 bits is refused (NIST SP 800-131A); above
// 4096 many verifiers refuse the key (go-jose's MaxRSAModulusBits is 4096).
const (
	minRSABits = 2048
	maxRSABits = 4096
)

// material is one parsed key pair with everything derived from it.
type material struct {
	alg    string
	kid    string
	signer crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
	public crypto.PublicKey
	jwk    publicJWK
}

// publicJWK is the public JWK of a key (RFC 7517 §4, RFC 7518 §6.3.1, RFC 8037
// §2). It has no member for private key parts, so nothing built from it can
// leak one.
type publicJWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// generate makes a new key pair for alg from crypto/rand.
func generate(alg string, rsaBits int) (*material, error) {
	var priv crypto.Signer
	switch alg {
	case RS256:
		if rsaBits < minRSABits || rsaBits > maxRSABits || rsaBits%1024 != 0 {
			return nil, fmt.Errorf("keys: generate %s key: %d-bit RSA not allowed (2048, 3072 or 4096)", alg, rsaBits)
		}
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("keys: generate %s key: %w", alg, err)
		}
		priv = k
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate %s key: %w", alg, err)
		}
		priv = k
	default:
		return nil, fmt.Errorf("keys: generate key: algorithm %q not supported (RS256 or EdDSA)", alg)
	}
	return newMaterial(alg, priv)
}

// newMaterial checks that priv is a key of alg's type and size and derives
// its public JWK and kid. Each key has exactly one algorithm (RFC 7517 §4.4),
// so an RSA key is only ever RS256 and an Ed25519 key only EdDSA.
func newMaterial(alg string, priv crypto.Signer) (*material, error) {
	m := &material{alg: alg, signer: priv, public: priv.Public()}
	switch alg {
	case RS256:
		k, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: %s needs an RSA key, got %T", ErrBadKey, alg, priv)
		}
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("%w: %d-bit RSA key (want %d to %d)", ErrBadKey, bits, minRSABits, maxRSABits)
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("%w: RSA key: %w", ErrBadKey, err)
		}
		k.Precompute()
		m.jwk = publicJWK{
			Kty: "RSA",
			// RFC 7518 §6.3.1: n and e are unsigned big-endian integers in
			// the fewest octets, base64url-encoded.
			N: b64(k.N.Bytes()),
			E: b64(big.NewInt(int64(k.E)).Bytes()),
		}
	case EdDSA:
		k, ok := priv.(ed25519.PrivateKey)
		if !ok || len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: %s needs an Ed25519 key, got %T", ErrBadKey, alg, priv)
		}
		// RFC 8037 §2: kty OKP, crv Ed25519, x the 32-byte public key.
		m.jwk = publicJWK{Kty: "OKP", Crv: "Ed25519", X: b64(k.Public().(ed25519.PublicKey))}
	default:
		return nil, fmt.Errorf("%w: algorithm %q not supported", ErrBadKey, alg)
	}
	m.jwk.Use = "sig"
	m.jwk.Alg = alg
	m.kid = thumbprint(m.jwk)
	m.jwk.Kid = m.kid
	return m, nil
}

// thumbprint is the RFC 7638 JWK thumbprint with SHA-256: the hash of the
// required members only, in lexicographic order, without whitespace (§3.2,
// §3.3). Every value here is base64url or a fixed name, so nothing needs JSON
// escaping.
func thumbprint(j publicJWK) string {
	var in string
	switch j.Kty {
	case "RSA":
		in = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	case "OKP":
		in = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}` // RFC 8037 §2
	}
	sum := sha256.Sum256([]byte(in))
	return b64(sum[:])
}

// checkPublic reports whether the stored public JWK is the public key of m,
// with m's kid, alg and use.
func (m *material) checkPublic(stored []byte) error {
	var j publicJWK
	if err := json.Unmarshal(stored, &j); err != nil {
		return fmt.Errorf("%w: key %s: public JWK: %w", ErrBadKey, m.kid, err)
	}
	if j != m.jwk {
		return fmt.Errorf("%w: key %s: stored public JWK is not the public part of its private key", ErrBadKey, m.kid)
	}
	return nil
}

// publicJSON is the JWK stored in storage.Key.Public.
func (m *material) publicJSON() []byte {
	b, err := json.Marshal(m.jwk)
	if err != nil {
		panic("keys: marshal public JWK: " + err.Error()) // plain strings only: cannot fail
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
