package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
)

// MaxOpaqueLen is the longest opaque token (refresh token, authorization
// code, one-time token) worth looking up: longer ones are refused before any
// hashing or database work.
const MaxOpaqueLen = 512

// Random returns n random bytes, base64url: refresh tokens (32 bytes: 256
// bits), codes, one-time tokens, jtis and ids.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash is how a bearer secret (refresh token, code, one-time token, browser
// session cookie) is stored: hex SHA-256. The secrets carry 256 random bits,
// so a fast hash suffices.
func Hash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// WellFormedSecret reports whether v looks like Random(32): 43 base64url
// characters. Cookies holding anything else are ignored before any lookup.
func WellFormedSecret(v string) bool {
	if len(v) != 43 {
		return false
	}
	for i := 0; i < len(v); i++ {
		b := v[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// ReplayKey is the key that seals the stored response of a refresh-token
// rotation, for an idempotent retry within the grace period. It is derived
// from the refresh token that was spent, which only its holder knows and the
// database does not hold (it holds SHA-256 of it, an independent function):
// so the sealed response at rest opens only for the client that presents
// that token again.
func ReplayKey(refreshToken string) []byte {
	m := hmac.New(sha256.New, []byte(refreshToken))
	m.Write([]byte("authd refresh-token replay v1"))
	return m.Sum(nil)
}

// Seal encrypts plaintext with AES-256-GCM under key (32 bytes), binding
// aad; the random nonce is prepended.
func Seal(key, plaintext, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open reverses Seal; it fails on a wrong key, other aad or altered bytes.
func Open(key, sealed, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("sealed data too short")
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
