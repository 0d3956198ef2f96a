package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// noPK is u asking for the next free pk.
func noPK(u storage.User) storage.User {
	u.PK = 0
	return u
}

// pkOfUser reads back the pk a user got.
func pkOfUser(t *testing.T, s storage.Storage, id string) int64 {
	t.Helper()
	return mustGetUser(t, s, id).PK
}

func testCreateUserPK(t *testing.T, s storage.Storage) {
	ctx := t.Context()

	t.Run("numbered from 1", func(t *testing.T) {
		mustCreateUser(t, s, noPK(newUser("u-1", "one", "")))
		mustCreateUser(t, s, noPK(newUser("u-2", "two", "")))
		for id, want := range map[string]int64{"u-1": 1, "u-2": 2} {
			if got := pkOfUser(t, s, id); got != want {
				t.Errorf("user %s: PK = %d, want %d", id, got, want)
			}
		}
	})

	t.Run("a given pk is kept and numbering continues after it", func(t *testing.T) {
		given := newUser("u-given", "given", "")
		given.PK = 40
		mustCreateUser(t, s, given)
		checkEqual(t, "GetUser", mustGetUser(t, s, given.ID), given)
		mustCreateUser(t, s, noPK(newUser("u-after", "after", "")))
		if got := pkOfUser(t, s, "u-after"); got != 41 {
			t.Errorf("PK after a given 40 = %d, want 41", got)
		}
		// A gap below the highest pk is never filled by numbering, but a
		// given pk may use it.
		gap := newUser("u-gap", "gap", "")
		gap.PK = 3
		mustCreateUser(t, s, gap)
		mustCreateUser(t, s, noPK(newUser("u-next", "next", "")))
		if got := pkOfUser(t, s, "u-next"); got != 42 {
			t.Errorf("PK = %d, want 42", got)
		}
	})

	t.Run("found by pk", func(t *testing.T) {
		for _, id := range []string{"u-1", "u-2", "u-given", "u-after", "u-gap", "u-next"} {
			want := mustGetUser(t, s, id)
			got, err := s.GetUserByPK(ctx, want.PK)
			if err != nil {
				t.Errorf("GetUserByPK(%d): %v", want.PK, err)
				continue
			}
			checkEqual(t, fmt.Sprintf("GetUserByPK(%d)", want.PK), got, want)
		}
	})

	t.Run("a taken pk", func(t *testing.T) {
		u := newUser("u-dup", "dup", "")
		u.PK = 2
		checkErr(t, "CreateUser(taken pk)", s.CreateUser(ctx, u), storage.ErrAlreadyExists)
		_, err := s.GetUser(ctx, u.ID)
		checkErr(t, "GetUser of the rejected user", err, storage.ErrNotFound)
	})

	t.Run("a negative pk", func(t *testing.T) {
		u := newUser("u-neg", "neg", "")
		u.PK = -5
		if err := s.CreateUser(ctx, u); err == nil {
			t.Errorf("CreateUser(pk -5) = nil, want an error")
		}
		_, err := s.GetUser(ctx, u.ID)
		checkErr(t, "GetUser of the rejected user", err, storage.ErrNotFound)
	})

	t.Run("a failed create takes no number", func(t *testing.T) {
		checkErr(t, "CreateUser(taken username)", s.CreateUser(ctx, noPK(newUser("u-x", "ONE", ""))), storage.ErrAlreadyExists)
		mustCreateUser(t, s, noPK(newUser("u-last", "last", "")))
		if got := pkOfUser(t, s, "u-last"); got != 43 {
			t.Errorf("PK = %d, want 43", got)
		}
	})
}

// testCreateUserPKConcurrent: users created at once all get distinct pks,
// with no number skipped.
func testCreateUserPKConcurrent(t *testing.T, s storage.Storage) {
	const n = 40
	first := noPK(newUser("u-first", "first", ""))
	mustCreateUser(t, s, first)

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := noPK(newUser(fmt.Sprintf("u-%d", i), fmt.Sprintf("user-%d", i), ""))
			u.CreatedAt = at(time.Duration(i) * time.Second)
			errs[i] = s.CreateUser(t.Context(), u)
		}()
	}
	wg.Wait()
	var pks []int64
	for i, err := range errs {
		if err != nil {
			t.Errorf("CreateUser %d: %v", i, err)
			continue
		}
		pks = append(pks, pkOfUser(t, s, fmt.Sprintf("u-%d", i)))
	}
	slices.Sort(pks)
	for i, pk := range pks {
		if want := int64(i + 2); pk != want {
			t.Fatalf("pks of concurrent creates = %v, want 2…%d each once", pks, n+1)
		}
	}
}

func testImportUsersPK(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	// A user created before the import, numbered 1.
	mustCreateUser(t, s, noPK(newUser("u-native", "native", "")))

	t.Run("keeps given pks and numbers the others after all of them", func(t *testing.T) {
		in := []storage.User{
			noPK(newUser("u-a", "a", "")),
			newUser("u-b", "b", ""),
			noPK(newUser("u-c", "native", "")), // skipped: takes no number
			noPK(newUser("u-d", "d", "")),
			newUser("u-e", "e", ""),
		}
		in[1].PK, in[4].PK = 7, 20
		skipped, err := s.ImportUsers(ctx, in)
		if err != nil {
			t.Fatalf("ImportUsers: %v", err)
		}
		checkIDs(t, "skipped", skipped, []string{"native"})
		for id, want := range map[string]int64{"u-native": 1, "u-a": 21, "u-b": 7, "u-d": 22, "u-e": 20} {
			if got := pkOfUser(t, s, id); got != want {
				t.Errorf("user %s: PK = %d, want %d", id, got, want)
			}
		}
		mustCreateUser(t, s, noPK(newUser("u-new", "new", "")))
		if got := pkOfUser(t, s, "u-new"); got != 23 {
			t.Errorf("PK of a user created after the import = %d, want 23", got)
		}
	})

	t.Run("importing again skips every user, pks taken or not", func(t *testing.T) {
		again := []storage.User{newUser("u-b2", "B", ""), newUser("u-e2", "e", "")}
		again[0].PK, again[1].PK = 7, 20
		skipped, err := s.ImportUsers(ctx, again)
		if err != nil {
			t.Fatalf("ImportUsers: %v", err)
		}
		checkIDs(t, "skipped", skipped, []string{"B", "e"})
	})

	t.Run("a pk taken in the database aborts it all", func(t *testing.T) {
		in := []storage.User{newUser("u-f", "f", ""), newUser("u-g", "g", "")}
		in[1].PK = 7
		_, err := s.ImportUsers(ctx, in)
		var ie *storage.ImportError
		if !errors.As(err, &ie) || ie.Index != 1 || ie.Key != "pk" || !errors.Is(err, storage.ErrAlreadyExists) {
			t.Fatalf("ImportUsers = %v, want an *ImportError for user 1, key pk, wrapping ErrAlreadyExists", err)
		}
		_, err = s.GetUser(ctx, "u-f")
		checkErr(t, "GetUser(u-f) after a failed import", err, storage.ErrNotFound)
	})

	t.Run("a negative pk", func(t *testing.T) {
		in := []storage.User{newUser("u-h", "h", ""), newUser("u-i", "i", "")}
		in[1].PK = -1
		_, err := s.ImportUsers(ctx, in)
		var ie *storage.ImportError
		if !errors.As(err, &ie) || ie.Index != 1 {
			t.Fatalf("ImportUsers = %v, want an *ImportError for user 1", err)
		}
		_, err = s.GetUser(ctx, "u-h")
		checkErr(t, "GetUser(u-h) after a failed import", err, storage.ErrNotFound)
	})
}
