package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
)

// RotateResult tells what Rotate did.
type RotateResult struct {
	// Rotated is false when another process rotated between this one's
	// reload and its compare-and-swap: then nothing was written, and
	// Promoted and Next describe the set as the other process left it.
	Rotated bool
	// Promoted is the kid of the key that signs now (was next).
	Promoted string
	// Retired is the kid of the key that stopped signing ("" if none).
	Retired string
	// Next is the kid of the new next key.
	Next string
	// PublishedFor is how long Promoted had been in the set before it was
	// promoted.
	PublishedFor time.Duration
	// Early is true when PublishedFor is less than ReloadInterval +
	// JWKSMaxAge: resource servers may still cache a JWKS without Promoted
	// and reject its tokens until they fetch the set again. The CLI warns.
	Early bool
}

// errRaced aborts a rotation whose expected active key is no longer active:
// another process rotated first.
var errRaced = errors.New("keys: another process rotated the keys first")

// Rotate rotates now, whatever Options.RotateEvery says: the oldest next key
// becomes active, the active key is retired (RemoveAt set, see the package
// doc) and a new next key of algorithm alg ("" means Options.Algorithm) is
// created. Retired keys past RemoveAt are pruned in the same write.
//
// alg is the algorithm of the new next key, not of the promoted one (which
// was published as next before): a move from RS256 to EdDSA is
// `Rotate(ctx, EdDSA)`, then once the new key has been published long enough
// a second rotation, with keys.algorithm set to EdDSA so that automatic
// rotations keep making EdDSA keys.
//
// Rotate reloads first and swaps only if the active key is still the one it
// saw, so two processes rotating at once make one rotation: the loser gets
// Rotated false and no error.
func (m *Manager) Rotate(ctx context.Context, alg string) (RotateResult, error) {
	if alg == "" {
		alg = m.opts.Algorithm
	}
	if alg != RS256 && alg != EdDSA {
		return RotateResult{}, fmt.Errorf("keys: rotate: algorithm %q not supported (RS256 or EdDSA)", alg)
	}
	if err := m.Reload(ctx); err != nil {
		return RotateResult{}, err
	}
	expect := m.snap.Load().activeKid()
	fresh, err := generate(alg, m.opts.RSABits)
	if err != nil {
		return RotateResult{}, fmt.Errorf("keys: rotate: %w", err)
	}
	return m.rotate(ctx, expect, fresh, true)
}

// rotate is the compare-and-swap of a rotation, forced or automatic. An
// automatic one (force false) also re-checks, on the rows it swaps, that
// rotation is due.
func (m *Manager) rotate(ctx context.Context, expect string, fresh *material, force bool) (RotateResult, error) {
	var res RotateResult
	err := m.store.UpdateKeys(ctx, func(cur []storage.Key) ([]storage.Key, error) {
		now := m.opts.Now()
		if err := m.checkRows(cur); err != nil {
			return nil, err
		}
		active, next := roles(cur)
		if active == nil || active.ID != expect {
			return nil, errRaced
		}
		if next == nil {
			return nil, fmt.Errorf("keys: rotate: no next key to promote")
		}
		if !force && !m.due(*active, *next, now) {
			return nil, errNothingToDo
		}
		newRow, err := m.newRow(fresh, storage.KeyNext, now)
		if err != nil {
			return nil, err
		}
		promoted, retired := next.ID, active.ID
		out := make([]storage.Key, 0, len(cur)+1)
		for _, k := range cur {
			switch {
			case k.ID == retired:
				k.State, k.RetiredAt, k.RemoveAt = storage.KeyRetired, now, m.removeAt(now)
			case k.ID == promoted:
				k.State, k.ActivatedAt = storage.KeyActive, now
			case m.prunable(k, now):
				continue
			}
			out = append(out, k)
		}
		out = append(out, newRow)
		published := now.Sub(next.CreatedAt)
		res = RotateResult{
			Rotated: true, Promoted: promoted, Retired: retired, Next: newRow.ID,
			PublishedFor: published, Early: published < m.publishWait(),
		}
		return out, nil
	})
	switch {
	case errors.Is(err, errRaced):
		m.log.Info("keys: another process rotated the keys first; not rotating again")
		if err := m.Reload(ctx); err != nil {
			return RotateResult{}, fmt.Errorf("keys: rotate: %w", err)
		}
		s := m.snap.Load()
		res = RotateResult{Promoted: s.activeKid()}
		if n := s.oldestNext(); n != nil {
			res.Next = n.kid
		}
		return res, nil
	case err != nil:
		return RotateResult{}, fmt.Errorf("keys: rotate: %w", err)
	}
	m.log.Info("keys: rotated", "event", "key.rotated", "active_kid", res.Promoted, "retired_kid", res.Retired,
		"next_kid", res.Next, "next_alg", fresh.alg, "forced", force)
	if err := m.Reload(ctx); err != nil {
		return res, fmt.Errorf("keys: rotate: committed, but: %w", err)
	}
	return res, nil
}

// maintain makes the one change the current snapshot calls for, if any:
// recreate a missing active or next key, rotate when due, prune retired
// keys past RemoveAt. Every change is re-checked inside its
// compare-and-swap, so the process that notices second does nothing.
func (m *Manager) maintain(ctx context.Context) error {
	s := m.snap.Load()
	now := m.opts.Now()
	next := s.oldestNext()
	switch {
	case s.active == nil || next == nil:
		return m.ensure(ctx)
	case m.due(s.active.row, next.row, now):
		fresh, err := generate(m.opts.Algorithm, m.opts.RSABits)
		if err != nil {
			return err
		}
		_, err = m.rotate(ctx, s.active.kid, fresh, false)
		if errors.Is(err, errNothingToDo) {
			return nil
		}
		return err
	}
	for _, k := range s.keys {
		if m.prunable(k.row, now) {
			return m.prune(ctx)
		}
	}
	return nil
}

// due reports whether automatic rotation is due: the active key has signed
// for RotateEvery, and the next key has been in the set long enough for every
// server to publish it and every cache to have fetched it since.
func (m *Manager) due(active, next storage.Key, now time.Time) bool {
	return m.opts.RotateEvery > 0 &&
		!active.ActivatedAt.Add(m.opts.RotateEvery).After(now) &&
		!next.CreatedAt.Add(m.publishWait()).After(now)
}

// publishWait is how long after a next key is written every JWKS cache
// holds it: servers publish it within ReloadInterval, and a cache that
// fetched just before keeps its copy for JWKSMaxAge.
func (m *Manager) publishWait() time.Duration { return m.opts.ReloadInterval + m.opts.JWKSMaxAge }

// removeAt is when a key retired at t may leave the JWKS: after the last
// token it may have signed expires. Other servers keep signing with it until
// they reload (ReloadInterval), those tokens live MaxTokenTTL, and verifiers
// allow Skew.
func (m *Manager) removeAt(t time.Time) time.Time {
	return t.Add(m.opts.ReloadInterval + m.opts.MaxTokenTTL + m.opts.Skew)
}

func (m *Manager) prunable(k storage.Key, now time.Time) bool {
	return k.State == storage.KeyRetired && !k.RemoveAt.After(now)
}

// prune deletes the retired keys past RemoveAt.
func (m *Manager) prune(ctx context.Context) error {
	var gone []string
	err := m.store.UpdateKeys(ctx, func(cur []storage.Key) ([]storage.Key, error) {
		now := m.opts.Now()
		gone = gone[:0]
		out := make([]storage.Key, 0, len(cur))
		for _, k := range cur {
			if m.prunable(k, now) {
				gone = append(gone, k.ID)
				continue
			}
			out = append(out, k)
		}
		if len(gone) == 0 {
			return nil, errNothingToDo
		}
		return out, nil
	})
	if errors.Is(err, errNothingToDo) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keys: prune: %w", err)
	}
	m.log.Info("keys: removed retired keys", "kids", gone)
	return m.Reload(ctx)
}

// ensure creates what the set lacks: with no key at all the first active
// and next keys (the first key signs at once: nobody can hold a JWKS of an
// empty set); with no active key it promotes the oldest next key; with no
// next key it creates one. Keys are generated before the compare-and-swap,
// which may find another process already did the work.
func (m *Manager) ensure(ctx context.Context) error {
	for attempt := 0; attempt < 3; attempt++ {
		s := m.snap.Load()
		want := 0
		if s.active == nil && s.oldestNext() == nil {
			want = 2
		} else if s.active == nil || s.oldestNext() == nil {
			want = 1
		}
		if want == 0 {
			return nil
		}
		fresh := make([]*material, want)
		for i := range fresh {
			var err error
			if fresh[i], err = generate(m.opts.Algorithm, m.opts.RSABits); err != nil {
				return err
			}
		}
		var created []string
		err := m.store.UpdateKeys(ctx, func(cur []storage.Key) ([]storage.Key, error) {
			now := m.opts.Now()
			created = created[:0]
			if err := m.checkRows(cur); err != nil {
				return nil, err
			}
			out := append([]storage.Key(nil), cur...)
			active, next := roles(out)
			if active != nil && next != nil {
				return nil, errNothingToDo
			}
			avail := fresh
			add := func(state storage.KeyState) error {
				if len(avail) == 0 {
					return errNeedMoreKeys
				}
				row, err := m.newRow(avail[0], state, now)
				if err != nil {
					return err
				}
				if state == storage.KeyActive {
					row.ActivatedAt = now
				}
				avail = avail[1:]
				out = append(out, row)
				created = append(created, row.ID+" ("+string(state)+")")
				return nil
			}
			if active == nil {
				if next != nil {
					next.State, next.ActivatedAt = storage.KeyActive, now
					created = append(created, next.ID+" (promoted to active)")
				} else if err := add(storage.KeyActive); err != nil {
					return nil, err
				}
			}
			if _, next = roles(out); next == nil {
				if err := add(storage.KeyNext); err != nil {
					return nil, err
				}
			}
			return out, nil
		})
		switch {
		case errors.Is(err, errNothingToDo):
			return m.Reload(ctx)
		case errors.Is(err, errNeedMoreKeys):
			if err := m.Reload(ctx); err != nil {
				return err
			}
			continue
		case err != nil:
			return fmt.Errorf("keys: create keys: %w", err)
		}
		m.log.Info("keys: created signing keys", "keys", created, "alg", m.opts.Algorithm)
		return m.Reload(ctx)
	}
	return fmt.Errorf("keys: create keys: the key set kept changing")
}

var errNeedMoreKeys = errors.New("keys: more keys needed than generated")

// roles returns pointers into rows to the active key and the oldest next key.
func roles(rows []storage.Key) (active, next *storage.Key) {
	for i := range rows {
		switch k := &rows[i]; k.State {
		case storage.KeyActive:
			active = k
		case storage.KeyNext:
			if next == nil || k.CreatedAt.Before(next.CreatedAt) {
				next = k
			}
		}
	}
	return active, next
}

// oldestNext is the next key a rotation would promote, or nil.
func (s *snapshot) oldestNext() *key {
	for _, k := range s.keys {
		if k.row.State == storage.KeyNext {
			return k // keys are sorted: the oldest next key comes first
		}
	}
	return nil
}

// checkRows refuses to write into a set holding a key this process cannot
// open (changed encryption key, tampered row): a key it added would be sealed
// differently from the others, and no server could open them all.
func (m *Manager) checkRows(rows []storage.Key) error {
	s := m.snap.Load()
	for _, r := range rows {
		if k := s.byKid[r.ID]; k != nil && string(k.row.Private) == string(r.Private) && string(k.row.Public) == string(r.Public) && k.row.Algorithm == r.Algorithm {
			continue
		}
		if _, err := m.sealer.open(r); err != nil {
			return err
		}
	}
	return nil
}

// newRow returns the storage row of a new key.
func (m *Manager) newRow(mat *material, state storage.KeyState, now time.Time) (storage.Key, error) {
	priv, err := m.sealer.seal(mat)
	if err != nil {
		return storage.Key{}, err
	}
	return storage.Key{
		ID: mat.kid, Algorithm: mat.alg, State: state,
		Private: priv, Public: mat.publicJSON(), CreatedAt: now,
	}, nil
}
