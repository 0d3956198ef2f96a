package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"

	"github.com/authd/authd/storage"
)

// How a private key is stored in storage.Key.Private: one format byte, then
//
//	formatPlain:  the PKCS#8 DER (RFC 5208) of the private key;
//	formatSealed: a 12-byte random nonce, then the PKCS#8 DER sealed with
//	              AES-256-GCM, with additional data formatSealed || kid.
//
// The additional data binds the sealed bytes to their kid: a sealed blob
// copied into another key's row fails to open instead of making that kid sign
// with a different private key.
const (
	formatPlain  byte = 0x01
	formatSealed byte = 0x02
)

// EncryptionKeySize is the length of keys.encryption_key in bytes.
const EncryptionKeySize = 32

// sealInfo labels the AES key derived from keys.encryption_key, so the same
// configured secret can seal other things (with other labels) without two
// uses ever sharing an AES key.
const sealInfo = "authd keys: private key sealing v1"

// sealer seals and opens stored private keys. A nil *sealer stores keys
// unsealed.
type sealer struct {
	aead cipher.AEAD
}

// newSealer returns nil for an empty key (keys stored unsealed).
func newSealer(encryptionKey []byte) (*sealer, error) {
	if len(encryptionKey) == 0 {
		return nil, nil
	}
	if len(encryptionKey) != EncryptionKeySize {
		return nil, fmt.Errorf("keys: encryption key is %d bytes, want %d", len(encryptionKey), EncryptionKeySize)
	}
	k, err := hkdf.Key(sha256.New, encryptionKey, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive sealing key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("keys: sealing cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: sealing cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal encodes the private key of m for storage.
func (s *sealer) seal(m *material) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(m.signer)
	if err != nil {
		return nil, fmt.Errorf("keys: encode private key %s: %w", m.kid, err)
	}
	if s == nil {
		return append([]byte{formatPlain}, der...), nil
	}
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(der)+s.aead.Overhead())
	out[0] = formatSealed
	nonce := out[1:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keys: seal private key %s: %w", m.kid, err)
	}
	return s.aead.Seal(out, nonce, der, sealAD(m.kid)), nil
}

// open decodes a stored key and checks it from end to end: the sealing
// matches the configuration, the private key parses and fits the row's
// algorithm, the kid is its thumbprint and the stored public JWK is its
// public key. Whatever passes can sign; nothing else is ever used.
func (s *sealer) open(k storage.Key) (*material, error) {
	if len(k.Private) == 0 {
		return nil, fmt.Errorf("%w: key %s: no private key", ErrBadKey, k.ID)
	}
	var der []byte
	switch k.Private[0] {
	case formatPlain:
		if s != nil {
			// With an encryption key set, sealing also authenticates the
			// rows: accepting an unsealed one would let anyone who can write
			// to the database plant a private key of their own choosing and
			// have authd sign with it.
			return nil, fmt.Errorf("%w: key %s is stored unsealed but keys.encryption_key is set (re-seal the keys first)", ErrEncryptionKey, k.ID)
		}
		der = k.Private[1:]
	case formatSealed:
		if s == nil {
			return nil, fmt.Errorf("%w: key %s is sealed but keys.encryption_key is not set", ErrEncryptionKey, k.ID)
		}
		n := s.aead.NonceSize()
		if len(k.Private) < 1+n+s.aead.Overhead() {
			return nil, fmt.Errorf("%w: key %s: sealed private key truncated", ErrEncryptionKey, k.ID)
		}
		var err error
		der, err = s.aead.Open(nil, k.Private[1:1+n], k.Private[1+n:], sealAD(k.ID))
		if err != nil {
			return nil, fmt.Errorf("%w: key %s: wrong keys.encryption_key, or the row was tampered with", ErrEncryptionKey, k.ID)
		}
	default:
		return nil, fmt.Errorf("%w: key %s: unknown storage format %#x", ErrBadKey, k.ID, k.Private[0])
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: private key: %w", ErrBadKey, k.ID, err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: key %s: private key of type %T", ErrBadKey, k.ID, parsed)
	}
	m, err := newMaterial(k.Algorithm, signer)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.ID, err)
	}
	if m.kid != k.ID {
		return nil, fmt.Errorf("%w: key %s: private key has thumbprint %s", ErrBadKey, k.ID, m.kid)
	}
	if err := m.checkPublic(k.Public); err != nil {
		return nil, err
	}
	return m, nil
}

func sealAD(kid string) []byte { return append([]byte{formatSealed}, kid...) }

// Reseal re-encodes every stored private key from oldKey to newKey (nil or
// empty: unsealed) in one compare-and-swap, and returns how many rows it
// changed. Use it to set, change or remove keys.encryption_key:
//
//  1. stop every authd serve process on the database (a running one cannot
//     reload the re-sealed keys, and one that rotates would add a key
//     sealed under the old encryption key — it refuses, but then it cannot
//     rotate until restarted);
//  2. call Reseal with the old and the new key (authd's CLI wraps it);
//  3. start the servers with the new keys.encryption_key.
//
// Every row is fully checked on the way (see NewManager), and all or none
// are rewritten. A row that already opens under newKey is left as it is, so
// running Reseal twice is harmless. Nothing but Private changes: kids, states
// and times stay, and issued tokens stay valid.
func Reseal(ctx context.Context, store storage.KeyStore, oldKey, newKey []byte) (int, error) {
	from, err := newSealer(oldKey)
	if err != nil {
		return 0, fmt.Errorf("keys: reseal: old key: %w", err)
	}
	to, err := newSealer(newKey)
	if err != nil {
		return 0, fmt.Errorf("keys: reseal: new key: %w", err)
	}
	var changed int
	err = store.UpdateKeys(ctx, func(current []storage.Key) ([]storage.Key, error) {
		changed = 0
		out := make([]storage.Key, 0, len(current))
		for _, k := range current {
			m, err := from.open(k)
			if err != nil {
				if _, errNew := to.open(k); errNew == nil {
					out = append(out, k) // already under the new key
					continue
				}
				return nil, err
			}
			if bytes.Equal(oldKey, newKey) {
				out = append(out, k)
				continue
			}
			if k.Private, err = to.seal(m); err != nil {
				return nil, err
			}
			out = append(out, k)
			changed++
		}
		return out, nil
	})
	if err != nil {
		return 0, fmt.Errorf("keys: reseal: %w", err)
	}
	return changed, nil
}
