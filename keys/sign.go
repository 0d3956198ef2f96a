package keys

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Token types, the typ header of what authd signs.
const (
	// TypeAccessToken is the typ of access tokens (RFC 9068 §2.1).
	TypeAccessToken = "at+jwt"
	// TypeIDToken is the typ of ID tokens (RFC 7519 §5.1; OIDC sets none,
	// so the generic one).
	TypeIDToken = "JWT"
)

// header is the JOSE header of every token authd signs (RFC 7515 §4.1):
// nothing but alg, kid and typ, which is all Verify accepts.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// encodeHeader returns the protected header ready to prefix a token: its
// base64url encoding followed by '.'.
func encodeHeader(alg, kid, typ string) string {
	b, err := json.Marshal(header{Alg: alg, Kid: kid, Typ: typ})
	if err != nil {
		panic("keys: marshal header: " + err.Error()) // plain strings only: cannot fail
	}
	return b64(b) + "."
}

// Sign returns claims signed with the active key as a JWS in compact
// serialisation (RFC 7515 §7.1), with header alg, kid and typ. claims must
// marshal to a JSON object; embed Claims in it. typ is TypeAccessToken or
// TypeIDToken (the headers of both are encoded once per key; another typ is
// encoded per call). Sign reads no database and parses no key.
func (m *Manager) Sign(typ string, claims any) (string, error) {
	k := m.snap.Load().active
	if k == nil {
		return "", ErrNoActiveKey
	}
	if typ == "" {
		return "", fmt.Errorf("keys: sign: empty typ")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("keys: sign: claims: %w", err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return "", fmt.Errorf("keys: sign: claims must be a JSON object, got %T", claims) // RFC 7519 §7.1 step 1
	}
	prefix, ok := k.headers[typ]
	if !ok {
		prefix = encodeHeader(k.alg, k.kid, typ)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(prefix)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(k.sigSize()))
	buf = append(buf, prefix...)
	buf = enc.AppendEncode(buf, payload)
	sig, err := k.sign(buf)
	if err != nil {
		return "", fmt.Errorf("keys: sign with %s: %w", k.kid, err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// sign signs the JWS signing input (RFC 7515 §5.1 step 5).
func (m *material) sign(input []byte) ([]byte, error) {
	switch priv := m.signer.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, input), nil // RFC 8037 §3.1
	case *rsa.PrivateKey:
		digest := sha256.Sum256(input) // RFC 7518 §3.3
		return rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:])
	}
	return nil, fmt.Errorf("keys: key type %T cannot sign", m.signer)
}

// sigSize is the length of the key's signatures in bytes.
func (m *material) sigSize() int {
	if priv, ok := m.signer.(*rsa.PrivateKey); ok {
		return priv.Size()
	}
	return ed25519.SignatureSize
}
