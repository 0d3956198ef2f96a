// Package keys owns authd's signing keys: their generation, the
// next → active → retired lifecycle in the database, sealing private keys at
// rest, signing tokens, verifying them with a fixed list of algorithms, and the
// serialised JWKS.
//
// A Manager holds the current key set as an immutable snapshot behind an
// atomic pointer: signing, verifying and serving the JWKS never touch the
// database or parse a key. Run reloads the set every ReloadInterval, so a
// rotation made by another process (the CLI, another replica) is seen within
// that interval, and performs the automatic rotation and pruning. Every change
// to the set is a compare-and-swap (storage.KeyStore.UpdateKeys), so processes
// racing to rotate make one rotation, never two active keys.
//
// The lifecycle:
//
//	next     published in the JWKS, not signing yet; created at each rotation
//	active   signing; exactly one
//	retired  not signing, still published (and accepted by Verify) until
//	         RemoveAt = RetiredAt + ReloadInterval + MaxTokenTTL + Skew,
//	         when every token it may have signed has expired; then deleted
//
// A rotation promotes the oldest next key to active, retires the active key
// and creates a new next key, so resource servers caching the JWKS hold a key
// before it signs anything.
package keys

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/storage"
)

// Defaults of Options fields left zero.
const (
	DefaultAlgorithm      = RS256
	DefaultRSABits        = 2048
	DefaultReloadInterval = 10 * time.Second
	// DefaultSkew is the clock skew allowed when checking exp, nbf and iat
	// (the same leeway as go-jose's jwt.DefaultLeeway).
	DefaultSkew = time.Minute
)

// Options configure a Manager. The zero value of a field means its default,
// given in its comment.
type Options struct {
	// Algorithm of newly generated keys: RS256 (default) or EdDSA.
	Algorithm string
	// RSABits is the RSA modulus size of new RS256 keys: 2048 (default),
	// 3072 or 4096. Below 2048 is refused.
	RSABits int
	// RotateEvery is the automatic rotation period; 0 disables automatic
	// rotation (pruning still runs).
	RotateEvery time.Duration
	// ReloadInterval is how often Run reloads the key set from the
	// database: the longest a change made by another process goes unseen.
	// Default 10s.
	ReloadInterval time.Duration
	// JWKSMaxAge is the Cache-Control max-age of the JWKS. A next key is
	// promoted automatically only once it has been in the database for
	// ReloadInterval + JWKSMaxAge (every server publishes it after at most
	// ReloadInterval; every cache that fetched before that expires after
	// JWKSMaxAge). 0 is allowed (no caching).
	JWKSMaxAge time.Duration
	// EncryptionKey seals private keys at rest with AES-256-GCM; it must be
	// EncryptionKeySize bytes. Nil or empty: keys are stored unsealed and
	// NewManager logs a warning.
	EncryptionKey []byte
	// MaxTokenTTL is the longest lifetime of any token a key signs (the
	// larger of the access and ID token lifetimes). Required.
	MaxTokenTTL time.Duration
	// Skew is the clock skew allowed in verification (exp, nbf, iat) and
	// added to the time a retired key stays published. Default 1m.
	Skew time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives key lifecycle events and reload failures; never key
	// material. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) fill() error {
	if o.Algorithm == "" {
		o.Algorithm = DefaultAlgorithm
	}
	if o.Algorithm != RS256 && o.Algorithm != EdDSA {
		return fmt.Errorf("keys: algorithm %q not supported (RS256 or EdDSA)", o.Algorithm)
	}
	if o.RSABits == 0 {
		o.RSABits = DefaultRSABits
	}
	if o.RSABits != 2048 && o.RSABits != 3072 && o.RSABits != 4096 {
		return fmt.Errorf("keys: rsa bits %d not allowed (2048, 3072 or 4096)", o.RSABits)
	}
	if o.RotateEvery < 0 {
		return fmt.Errorf("keys: rotate every %s: negative", o.RotateEvery)
	}
	if o.ReloadInterval == 0 {
		o.ReloadInterval = DefaultReloadInterval
	}
	if o.ReloadInterval < 0 {
		return fmt.Errorf("keys: reload interval %s: negative", o.ReloadInterval)
	}
	if o.JWKSMaxAge < 0 {
		return fmt.Errorf("keys: jwks max age %s: negative", o.JWKSMaxAge)
	}
	if o.MaxTokenTTL <= 0 {
		return fmt.Errorf("keys: max token ttl %s: must be positive", o.MaxTokenTTL)
	}
	if o.Skew == 0 {
		o.Skew = DefaultSkew
	}
	if o.Skew < 0 {
		return fmt.Errorf("keys: skew %s: negative", o.Skew)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Manager signs and verifies tokens with the key set of a KeyStore and keeps
// that set's lifecycle. Its methods are safe for concurrent use.
type Manager struct {
	store  storage.KeyStore
	opts   Options
	sealer *sealer
	log    *slog.Logger

	snap atomic.Pointer[snapshot]
	// reloadMu serialises reloads, so an older read never replaces a newer
	// snapshot.
	reloadMu sync.Mutex
}

// NewManager loads the key set from store and checks every key (see
// ErrEncryptionKey, ErrBadKey): a key that does not open, or whose parts do
// not match, fails it with an error naming the kid, so authd never signs with
// garbage. On an empty set it creates the first active and next keys; if the
// set lacks an active or a next key it creates what is missing. Creation is a
// compare-and-swap, so processes starting at once on one database make one key
// set.
func NewManager(ctx context.Context, store storage.KeyStore, opts Options) (*Manager, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	s, err := newSealer(opts.EncryptionKey)
	if err != nil {
		return nil, err
	}
	m := &Manager{store: store, opts: opts, sealer: s, log: opts.Logger}
	if s == nil {
		m.log.Warn("keys: keys.encryption_key is not set: private signing keys are stored UNSEALED in the database; anyone who reads the database file or a backup of it can sign tokens as this server")
	}
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	if err := m.ensure(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Reload reads the key set from the database and, if it changed, builds and
// publishes a new snapshot. It fails, keeping the current snapshot, if any
// key does not open.
func (m *Manager) Reload(ctx context.Context) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	rows, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: reload: %w", err)
	}
	old := m.snap.Load()
	fp := fingerprint(rows)
	if old != nil && old.fingerprint == fp {
		return nil
	}
	s, err := m.build(rows, old)
	if err != nil {
		return fmt.Errorf("keys: reload: %w", err)
	}
	s.fingerprint = fp
	m.snap.Store(s)
	if old != nil {
		m.log.Info("keys: key set changed", "active_kid", s.activeKid(), "keys", len(s.keys))
	}
	return nil
}

// Run keeps the key set current until ctx is done: every ReloadInterval it
// reloads from the database, rotates when automatic rotation is due (see
// Options.JWKSMaxAge), prunes retired keys past RemoveAt and recreates a
// missing next key. Whichever process notices first does each change; the
// others see it at their next reload. Failures are logged and retried at the
// next tick; the current snapshot stays in use meanwhile.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.ReloadInterval)
	defer t.Stop()
	for {
		m.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Manager) tick(ctx context.Context) {
	if err := m.Reload(ctx); err != nil {
		if ctx.Err() == nil {
			m.log.Error("keys: reload failed; keeping the current key set", "err", err)
		}
		return
	}
	if err := m.maintain(ctx); err != nil && ctx.Err() == nil {
		m.log.Error("keys: key maintenance failed", "err", err)
	}
}

// Active returns the kid and algorithm of the signing key; ok is false when
// there is none (readiness fails then).
func (m *Manager) Active() (kid, alg string, ok bool) {
	s := m.snap.Load()
	if s == nil || s.active == nil {
		return "", "", false
	}
	return s.active.kid, s.active.alg, true
}

// Algorithms returns the algorithms of the published keys (next, active and
// retired), RS256 before EdDSA. For discovery's
// id_token_signing_alg_values_supported: note that OIDC Discovery §3 asks
// that RS256 be listed, which after a full move to EdDSA it no longer is;
// SupportedAlgorithms lists both whatever the keys are.
func (m *Manager) Algorithms() []string { return slices.Clone(m.snap.Load().algs) }

// KeyInfo describes one key, for `authd keys list`. Zero times are unset.
type KeyInfo struct {
	ID          string // kid
	Algorithm   string
	State       storage.KeyState
	CreatedAt   time.Time // when it was created (and published, as next)
	ActivatedAt time.Time // when it started signing
	RetiredAt   time.Time // when it stopped signing
	RemoveAt    time.Time // when it leaves the JWKS and is deleted
}

// Keys returns the keys of the current snapshot: the active key, then next
// keys, then retired ones, newest first within a state.
func (m *Manager) Keys() []KeyInfo {
	s := m.snap.Load()
	out := make([]KeyInfo, len(s.keys))
	for i, k := range s.keys {
		out[i] = KeyInfo{
			ID: k.kid, Algorithm: k.alg, State: k.row.State,
			CreatedAt: k.row.CreatedAt, ActivatedAt: k.row.ActivatedAt,
			RetiredAt: k.row.RetiredAt, RemoveAt: k.row.RemoveAt,
		}
	}
	return out
}

// JWKS returns the JSON Web Key Set (RFC 7517 §5) of the published keys and
// its strong ETag, already quoted for the ETag header (RFC 9110 §8.8.3). Both
// are computed once per change of the key set; do not modify body.
func (m *Manager) JWKS() (body []byte, etag string) {
	s := m.snap.Load()
	return s.jwks, s.etag
}

// snapshot is an immutable view of the key set.
type snapshot struct {
	keys        []*key // active, next (oldest first), retired (newest first)
	byKid       map[string]*key
	active      *key
	algs        []string
	jwks        []byte
	etag        string
	fingerprint [sha256.Size]byte
}

func (s *snapshot) activeKid() string {
	if s.active == nil {
		return ""
	}
	return s.active.kid
}

// key is one usable key of a snapshot.
type key struct {
	*material
	row storage.Key // as stored; Private kept only to tell a changed row
	// headers holds the pre-encoded protected header, base64url and
	// followed by '.', for the token types signed most.
	headers map[string]string
}

// build parses rows into a snapshot, reusing the parsed keys of old whose
// stored bytes did not change.
func (m *Manager) build(rows []storage.Key, old *snapshot) (*snapshot, error) {
	s := &snapshot{byKid: make(map[string]*key, len(rows))}
	for _, r := range rows {
		if _, dup := s.byKid[r.ID]; dup {
			return nil, fmt.Errorf("%w: key %s listed twice", ErrBadKey, r.ID)
		}
		var mat *material
		if old != nil {
			if k := old.byKid[r.ID]; k != nil && k.row.Algorithm == r.Algorithm &&
				bytes.Equal(k.row.Private, r.Private) && bytes.Equal(k.row.Public, r.Public) {
				mat = k.material
			}
		}
		if mat == nil {
			var err error
			if mat, err = m.sealer.open(r); err != nil {
				return nil, err
			}
		}
		k := &key{material: mat, row: r, headers: make(map[string]string, 2)}
		for _, typ := range []string{TypeAccessToken, TypeIDToken} {
			k.headers[typ] = encodeHeader(k.alg, k.kid, typ)
		}
		switch r.State {
		case storage.KeyActive:
			if s.active != nil {
				return nil, fmt.Errorf("%w: two active keys, %s and %s", ErrBadKey, s.active.kid, r.ID)
			}
			s.active = k
		case storage.KeyNext, storage.KeyRetired:
		default:
			return nil, fmt.Errorf("%w: key %s: unknown state %q", ErrBadKey, r.ID, r.State)
		}
		s.byKid[r.ID] = k
		s.keys = append(s.keys, k)
	}
	slices.SortFunc(s.keys, func(a, b *key) int {
		if c := cmp.Compare(stateOrder(a.row.State), stateOrder(b.row.State)); c != 0 {
			return c
		}
		if a.row.State == storage.KeyNext {
			return a.row.CreatedAt.Compare(b.row.CreatedAt) // the one promoted next first
		}
		if c := b.row.RetiredAt.Compare(a.row.RetiredAt); c != 0 {
			return c
		}
		return cmp.Compare(a.kid, b.kid)
	})
	for _, alg := range SupportedAlgorithms() {
		if slices.ContainsFunc(s.keys, func(k *key) bool { return k.alg == alg }) {
			s.algs = append(s.algs, alg)
		}
	}
	s.jwks, s.etag = buildJWKS(s.keys)
	return s, nil
}

func stateOrder(st storage.KeyState) int {
	switch st {
	case storage.KeyActive:
		return 0
	case storage.KeyNext:
		return 1
	default:
		return 2
	}
}

// fingerprint identifies a key set's content, whatever order ListKeys
// returns it in, so an unchanged set is not parsed again.
func fingerprint(rows []storage.Key) [sha256.Size]byte {
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, func(a, b storage.Key) int { return cmp.Compare(a.ID, b.ID) })
	h := sha256.New()
	field := func(b []byte) {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	for _, r := range sorted {
		field([]byte(r.ID))
		field([]byte(r.Algorithm))
		field([]byte(r.State))
		field(r.Private)
		field(r.Public)
		for _, t := range []time.Time{r.CreatedAt, r.ActivatedAt, r.RetiredAt, r.RemoveAt} {
			b, _ := t.MarshalBinary()
			field(b)
		}
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// errNothingToDo aborts an UpdateKeys whose fn found nothing to change, so
// nothing is written.
var errNothingToDo = errors.New("keys: nothing to do")
