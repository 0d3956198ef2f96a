package keys

import (
	"context"
	"crypto"
	"time"

	"github.com/authd/authd/storage"
)

// NewStoredKey returns the storage row of priv as NewManager would write it,
// for tests that plant fixed key material.
func NewStoredKey(priv crypto.Signer, alg string, state storage.KeyState, created time.Time, encryptionKey []byte) (storage.Key, error) {
	mat, err := newMaterial(alg, priv)
	if err != nil {
		return storage.Key{}, err
	}
	s, err := newSealer(encryptionKey)
	if err != nil {
		return storage.Key{}, err
	}
	priv2, err := s.seal(mat)
	if err != nil {
		return storage.Key{}, err
	}
	return storage.Key{ID: mat.kid, Algorithm: alg, State: state, Private: priv2, Public: mat.publicJSON(), CreatedAt: created}, nil
}

// Tick runs one iteration of Run: reload, then maintenance.
func (m *Manager) Tick(ctx context.Context) { m.tick(ctx) }

// RotateFrom is Rotate with the active kid it expects chosen by the caller,
// so tests can make two rotators decide on the same state however the
// scheduler interleaves them (what two Run loops do when rotation falls due).
func (m *Manager) RotateFrom(ctx context.Context, expectActive, alg string) (RotateResult, error) {
	fresh, err := generate(alg, m.opts.RSABits)
	if err != nil {
		return RotateResult{}, err
	}
	return m.rotate(ctx, expectActive, fresh, true)
}
