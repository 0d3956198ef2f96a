package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// newKey is a key with every field its state uses set.
func newKey(id string, state storage.KeyState, created time.Time) storage.Key {
	k := storage.Key{
		ID:        id,
		Algorithm: "EdDSA",
		State:     state,
		Private:   []byte("sealed private " + id),
		Public:    []byte(`{"kty":"OKP","crv":"Ed25519","kid":"` + id + `"}`),
		CreatedAt: created,
	}
	if state != storage.KeyNext {
		k.ActivatedAt = created.Add(time.Hour)
	}
	if state == storage.KeyRetired {
		k.RetiredAt = created.Add(2 * time.Hour)
		k.RemoveAt = created.Add(3 * time.Hour)
	}
	return k
}

// checkKeys compares key sets, ignoring order.
func checkKeys(t *testing.T, what string, got, want []storage.Key) {
	t.Helper()
	byID := func(a, b storage.Key) int { return strings.Compare(a.ID, b.ID) }
	got, want = slices.SortedFunc(slices.Values(got), byID), slices.SortedFunc(slices.Values(want), byID)
	if len(got) != len(want) {
		t.Errorf("%s: %d keys, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		checkEqual(t, what+"["+want[i].ID+"]", got[i], want[i])
	}
}

func mustListKeys(t *testing.T, s storage.Storage) []storage.Key {
	t.Helper()
	ks, err := s.ListKeys(t.Context())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	return ks
}

func testUpdateKeys(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	checkKeys(t, "ListKeys of an empty storage", mustListKeys(t, s), nil)

	k1, k2 := newKey("k1", storage.KeyActive, at(0)), newKey("k2", storage.KeyNext, at(time.Minute))
	// The first rotation of a new server: the set is empty.
	err := s.UpdateKeys(ctx, func(current []storage.Key) ([]storage.Key, error) {
		checkKeys(t, "current in the first UpdateKeys", current, nil)
		return []storage.Key{k1, k2}, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	set := []storage.Key{k1, k2}
	checkKeys(t, "ListKeys", mustListKeys(t, s), set)

	// A rotation: next becomes active, active retires, a new next appears.
	retired, active, k3 := newKey("k1", storage.KeyRetired, at(0)), newKey("k2", storage.KeyActive, at(time.Minute)), newKey("k3", storage.KeyNext, at(time.Hour))
	err = s.UpdateKeys(ctx, func(current []storage.Key) ([]storage.Key, error) {
		checkKeys(t, "current in the rotation", current, set)
		return []storage.Key{active, retired, k3}, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys (rotate): %v", err)
	}
	set = []storage.Key{retired, active, k3}
	checkKeys(t, "ListKeys after a rotation", mustListKeys(t, s), set)

	// A key missing from the result is deleted.
	err = s.UpdateKeys(ctx, func(current []storage.Key) ([]storage.Key, error) {
		return []storage.Key{active, k3}, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys (remove): %v", err)
	}
	set = []storage.Key{active, k3}
	checkKeys(t, "ListKeys after a removal", mustListKeys(t, s), set)

	tests := []struct {
		name    string
		fn      func([]storage.Key) ([]storage.Key, error)
		wantErr error // nil: any error
	}{
		{"fn error", func([]storage.Key) ([]storage.Key, error) {
			return []storage.Key{newKey("k9", storage.KeyNext, at(0))}, errBoom
		}, errBoom},
		{"two active keys", func(current []storage.Key) ([]storage.Key, error) {
			return []storage.Key{active, newKey("k3", storage.KeyActive, at(time.Hour))}, nil
		}, nil},
		{"two active keys, one new", func(current []storage.Key) ([]storage.Key, error) {
			return append(current, newKey("k9", storage.KeyActive, at(0))), nil
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.UpdateKeys(ctx, tt.fn)
			if err == nil {
				t.Errorf("UpdateKeys: no error")
			} else if tt.wantErr != nil {
				checkErr(t, "UpdateKeys", err, tt.wantErr)
			}
			checkKeys(t, "ListKeys after a failed UpdateKeys", mustListKeys(t, s), set)
		})
	}
}

// testUpdateKeysConcurrent runs many read-modify-write updates at once, each
// adding one key to the set it is given. If two ran on the same set, one
// key would be lost.
func testUpdateKeysConcurrent(t *testing.T, s storage.Storage) {
	const n = 20
	ctx := t.Context()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.UpdateKeys(ctx, func(current []storage.Key) ([]storage.Key, error) {
				return append(current, newKey(fmt.Sprintf("k%02d", i), storage.KeyNext, at(time.Duration(i)))), nil
			})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("UpdateKeys %d: %v", i, err)
		}
	}
	var want []storage.Key
	for i := range n {
		want = append(want, newKey(fmt.Sprintf("k%02d", i), storage.KeyNext, at(time.Duration(i))))
	}
	checkKeys(t, "ListKeys after concurrent updates", mustListKeys(t, s), want)
}
