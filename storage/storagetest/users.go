package storagetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func testCreateUser(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice := newUser("u-alice", "Alice", "alice@example.com")
	mustCreateUser(t, s, alice)
	checkEqual(t, "GetUser", mustGetUser(t, s, alice.ID), alice)

	// Emails are unique only when set.
	for _, id := range []string{"u-nomail-1", "u-nomail-2"} {
		u := newUser(id, id, "")
		mustCreateUser(t, s, u)
		checkEqual(t, "GetUser", mustGetUser(t, s, id), u)
	}
	zoe := newUser("u-zoe", "Zo\u00eb", "") // NFC ë
	mustCreateUser(t, s, zoe)

	tests := []struct {
		name string
		u    storage.User
	}{
		{"same id", newUser(alice.ID, "someone-else", "else@example.com")},
		{"same pk", func() storage.User { u := newUser("u-new", "someone-else", ""); u.PK = alice.PK; return u }()},
		{"same username", newUser("u-new", "Alice", "")},
		{"username in upper case", newUser("u-new", "ALICE", "")},
		{"username in lower case", newUser("u-new", "alice", "")},
		{"username in fullwidth letters", newUser("u-new", "Ａｌｉｃｅ", "")},
		{"username decomposed", newUser("u-new", "Zoe\u0308", "")}, // e + combining diaeresis
		{"same email", newUser("u-new", "alice2", "alice@example.com")},
		{"email in other case", newUser("u-new", "alice2", "ALICE@Example.COM")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateUser(ctx, tt.u)
			checkErr(t, "CreateUser", err, storage.ErrAlreadyExists)
			if tt.u.ID != alice.ID {
				_, err := s.GetUser(ctx, tt.u.ID)
				checkErr(t, "GetUser of the rejected user", err, storage.ErrNotFound)
			}
			checkEqual(t, "GetUser(alice) after", mustGetUser(t, s, alice.ID), alice)
		})
	}
}

func testGetUser(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice := newUser("u-alice", "Alice", "alice@example.com")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, newUser("u-nomail", "nomail", ""))

	for _, name := range []string{"Alice", "alice", "ALICE", "Ａｌｉｃｅ"} {
		u, err := s.GetUserByUsername(ctx, name)
		if err != nil {
			t.Errorf("GetUserByUsername(%q): %v", name, err)
			continue
		}
		checkEqual(t, fmt.Sprintf("GetUserByUsername(%q)", name), u, alice)
	}
	if u, err := s.GetUserByPK(ctx, alice.PK); err != nil {
		t.Errorf("GetUserByPK(%d): %v", alice.PK, err)
	} else {
		checkEqual(t, "GetUserByPK", u, alice)
	}
	for _, email := range []string{"alice@example.com", "ALICE@EXAMPLE.COM", " alice@Example.com "} {
		u, err := s.GetUserByEmail(ctx, email)
		if err != nil {
			t.Errorf("GetUserByEmail(%q): %v", email, err)
			continue
		}
		checkEqual(t, fmt.Sprintf("GetUserByEmail(%q)", email), u, alice)
	}

	tests := []struct {
		name string
		get  func() (storage.User, error)
	}{
		{"GetUser unknown id", func() (storage.User, error) { return s.GetUser(ctx, "u-bob") }},
		{"GetUser by username", func() (storage.User, error) { return s.GetUser(ctx, "Alice") }},
		{"GetUserByPK unknown", func() (storage.User, error) { return s.GetUserByPK(ctx, alice.PK+1) }},
		{"GetUserByPK 0", func() (storage.User, error) { return s.GetUserByPK(ctx, 0) }},
		{"GetUserByPK negative", func() (storage.User, error) { return s.GetUserByPK(ctx, -alice.PK) }},
		{"GetUserByUsername unknown", func() (storage.User, error) { return s.GetUserByUsername(ctx, "bob") }},
		{"GetUserByUsername by id", func() (storage.User, error) { return s.GetUserByUsername(ctx, "u-alice") }},
		{"GetUserByEmail unknown", func() (storage.User, error) { return s.GetUserByEmail(ctx, "bob@example.com") }},
		// A user without an email must not be found by the empty one.
		{"GetUserByEmail empty", func() (storage.User, error) { return s.GetUserByEmail(ctx, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.get()
			checkErr(t, tt.name, err, storage.ErrNotFound)
		})
	}
}

func testUpdateUser(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice := newUser("u-alice", "Alice", "alice@example.com")
	bob := newUser("u-bob", "Bob", "bob@example.com")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)

	t.Run("changes the fields fn may change", func(t *testing.T) {
		now := at(time.Hour)
		var seen storage.User
		got, err := s.UpdateUser(ctx, alice.ID, now, func(u *storage.User) error {
			seen = *u
			u.Username = "Alicia"
			u.Email = "alicia@example.com"
			u.EmailVerified = false
			u.PasswordHash = "new-hash"
			u.FirstName = "Alicia"
			u.LastName = "Liddell"
			// Not fn's to change:
			u.ID = "u-hijack"
			u.PK = 7
			u.CreatedAt = at(99 * time.Hour)
			u.UpdatedAt = at(98 * time.Hour)
			u.Disabled = true
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		checkEqual(t, "user fn saw", seen, alice)
		want := alice
		want.Username = "Alicia"
		want.Email = "alicia@example.com"
		want.EmailVerified = false
		want.PasswordHash = "new-hash"
		want.FirstName = "Alicia"
		want.LastName = "Liddell"
		want.UpdatedAt = now
		checkEqual(t, "UpdateUser result", got, want)
		checkEqual(t, "GetUser after", mustGetUser(t, s, alice.ID), want)

		_, err = s.GetUser(ctx, "u-hijack")
		checkErr(t, "GetUser(new id fn set)", err, storage.ErrNotFound)
		_, err = s.GetUserByPK(ctx, 7)
		checkErr(t, "GetUserByPK(new pk fn set)", err, storage.ErrNotFound)
		_, err = s.GetUserByUsername(ctx, "alice")
		checkErr(t, "GetUserByUsername(old name)", err, storage.ErrNotFound)
		_, err = s.GetUserByEmail(ctx, "alice@example.com")
		checkErr(t, "GetUserByEmail(old email)", err, storage.ErrNotFound)
		if u, err := s.GetUserByUsername(ctx, "ALICIA"); err != nil || u.ID != alice.ID {
			t.Errorf("GetUserByUsername(new name) = %q, %v; want %q", u.ID, err, alice.ID)
		}
		if u, err := s.GetUserByEmail(ctx, "Alicia@Example.com"); err != nil || u.ID != alice.ID {
			t.Errorf("GetUserByEmail(new email) = %q, %v; want %q", u.ID, err, alice.ID)
		}
		alice = want
	})

	t.Run("a case-only rename keeps the name", func(t *testing.T) {
		got, err := s.UpdateUser(ctx, alice.ID, at(2*time.Hour), func(u *storage.User) error {
			u.Username = "ALICIA"
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		if got.Username != "ALICIA" {
			t.Errorf("Username = %q, want %q", got.Username, "ALICIA")
		}
		alice = mustGetUser(t, s, alice.ID)
	})

	tests := []struct {
		name    string
		id      string
		fn      func(*storage.User) error
		wantErr error
	}{
		{"fn error", alice.ID, func(u *storage.User) error {
			u.FirstName = "Changed"
			return errBoom
		}, errBoom},
		{"unknown id", "u-nobody", func(u *storage.User) error {
			t.Errorf("fn called for an unknown id")
			return nil
		}, storage.ErrNotFound},
		{"username taken", alice.ID, func(u *storage.User) error {
			u.Username = "BOB"
			u.FirstName = "Changed"
			return nil
		}, storage.ErrAlreadyExists},
		{"email taken", alice.ID, func(u *storage.User) error {
			u.Email = "Bob@Example.com"
			u.FirstName = "Changed"
			return nil
		}, storage.ErrAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateUser(ctx, tt.id, at(3*time.Hour), tt.fn)
			checkErr(t, "UpdateUser", err, tt.wantErr)
			checkEqual(t, "GetUser(alice), unchanged", mustGetUser(t, s, alice.ID), alice)
			checkEqual(t, "GetUser(bob), unchanged", mustGetUser(t, s, bob.ID), bob)
		})
	}

	t.Run("clearing the email frees it", func(t *testing.T) {
		_, err := s.UpdateUser(ctx, bob.ID, at(4*time.Hour), func(u *storage.User) error {
			u.Email = ""
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		if got := mustGetUser(t, s, bob.ID).Email; got != "" {
			t.Errorf("Email = %q, want empty", got)
		}
		_, err = s.GetUserByEmail(ctx, "bob@example.com")
		checkErr(t, "GetUserByEmail(cleared)", err, storage.ErrNotFound)
		mustCreateUser(t, s, newUser("u-bob2", "bob2", "bob@example.com"))
	})
}

func testSetPassword(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice, bob := newUser("u-alice", "alice", "alice@example.com"), newUser("u-bob", "bob", "bob@example.com")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		mustCreateSession(t, s, newSession(id, alice.ID, at(0)), "tok-"+id)
	}
	mustCreateSession(t, s, newSession("b1", bob.ID, at(0)), "tok-b1")
	if err := s.EndSession(ctx, "a4", at(time.Hour)); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	ott := func(hash, purpose, userID string) storage.OneTimeToken {
		return storage.OneTimeToken{Hash: hash, Purpose: purpose, UserID: userID, Email: "x@example.com",
			CreatedAt: at(time.Hour), ExpiresAt: at(10 * time.Hour)}
	}
	for _, o := range []storage.OneTimeToken{
		ott("reset-alice", storage.PurposeReset, alice.ID),
		ott("verify-alice", storage.PurposeVerifyEmail, alice.ID),
		ott("reset-bob", storage.PurposeReset, bob.ID),
	} {
		if err := s.CreateOneTimeToken(ctx, o); err != nil {
			t.Fatalf("CreateOneTimeToken: %v", err)
		}
	}

	now := at(2 * time.Hour)
	ended, err := s.SetPassword(ctx, alice.ID, "new-hash", "a2", now)
	if err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	checkIDs(t, "ended sessions", ended, []string{"a1", "a3"})
	if got := mustGetUser(t, s, alice.ID).PasswordHash; got != "new-hash" {
		t.Errorf("PasswordHash = %q, want %q", got, "new-hash")
	}
	for _, c := range []struct {
		id    string
		ended time.Time
	}{{"a1", now}, {"a2", time.Time{}}, {"a3", now}, {"a4", at(time.Hour)}, {"b1", time.Time{}}} {
		if got := mustGetSession(t, s, c.id).EndedAt; !got.Equal(c.ended) {
			t.Errorf("session %s: EndedAt = %v, want %v", c.id, got, c.ended)
		}
	}
	checkFamiliesGone(t, s, "a1", "a3", "a4")
	checkFamiliesLive(t, s, "a2", "b1")
	_, err = s.ConsumeOneTimeToken(ctx, "reset-alice", storage.PurposeReset, now)
	checkErr(t, "ConsumeOneTimeToken(alice's reset token)", err, storage.ErrNotFound)
	for _, o := range []struct{ hash, purpose string }{
		{"verify-alice", storage.PurposeVerifyEmail}, {"reset-bob", storage.PurposeReset},
	} {
		if _, err := s.ConsumeOneTimeToken(ctx, o.hash, o.purpose, now); err != nil {
			t.Errorf("ConsumeOneTimeToken(%q): %v, want it still usable", o.hash, err)
		}
	}
	if got := mustGetUser(t, s, bob.ID).PasswordHash; got != bob.PasswordHash {
		t.Errorf("bob's PasswordHash changed to %q", got)
	}

	t.Run("keep none", func(t *testing.T) {
		ended, err := s.SetPassword(ctx, alice.ID, "newer-hash", "", at(3*time.Hour))
		if err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		checkIDs(t, "ended sessions", ended, []string{"a2"})
		checkFamiliesGone(t, s, "a2")
		checkFamiliesLive(t, s, "b1")
	})
	t.Run("unknown user", func(t *testing.T) {
		_, err := s.SetPassword(ctx, "u-nobody", "hash", "", at(3*time.Hour))
		checkErr(t, "SetPassword", err, storage.ErrNotFound)
	})
}

func testUpgradePasswordHash(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice := newUser("u-alice", "alice", "")
	alice.PasswordHash = "bcrypt-hash"
	mustCreateUser(t, s, alice)

	tests := []struct {
		name     string
		id, old  string
		wantOK   bool
		wantHash string
	}{
		{"stale old hash", alice.ID, "other-hash", false, "bcrypt-hash"},
		{"old hash matches", alice.ID, "bcrypt-hash", true, "argon2-hash"},
		{"old hash matched once", alice.ID, "bcrypt-hash", false, "argon2-hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := s.UpgradePasswordHash(ctx, tt.id, tt.old, "argon2-hash", at(time.Hour))
			if err != nil || ok != tt.wantOK {
				t.Errorf("UpgradePasswordHash = %v, %v; want %v, nil", ok, err, tt.wantOK)
			}
			if got := mustGetUser(t, s, alice.ID).PasswordHash; got != tt.wantHash {
				t.Errorf("PasswordHash = %q, want %q", got, tt.wantHash)
			}
		})
	}
	t.Run("unknown user", func(t *testing.T) {
		// The contract promises only that nothing is replaced.
		ok, err := s.UpgradePasswordHash(ctx, "u-nobody", "bcrypt-hash", "argon2-hash", at(time.Hour))
		if ok || (err != nil && !errors.Is(err, storage.ErrNotFound)) {
			t.Errorf("UpgradePasswordHash = %v, %v; want false and nil or ErrNotFound", ok, err)
		}
	})
}

func testSetDisabled(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice, bob := newUser("u-alice", "alice", ""), newUser("u-bob", "bob", "")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	mustCreateSession(t, s, newSession("a1", alice.ID, at(0)), "tok-a1")
	mustCreateSession(t, s, newSession("a2", alice.ID, at(time.Minute)), "tok-a2")
	mustCreateSession(t, s, newSession("b1", bob.ID, at(0)), "tok-b1")

	now := at(time.Hour)
	ended, err := s.SetDisabled(ctx, alice.ID, true, now)
	if err != nil {
		t.Fatalf("SetDisabled(true): %v", err)
	}
	checkIDs(t, "ended sessions", ended, []string{"a1", "a2"})
	if !mustGetUser(t, s, alice.ID).Disabled {
		t.Errorf("Disabled = false after SetDisabled(true)")
	}
	for _, id := range []string{"a1", "a2"} {
		if got := mustGetSession(t, s, id).EndedAt; !got.Equal(now) {
			t.Errorf("session %s: EndedAt = %v, want %v", id, got, now)
		}
	}
	checkFamiliesGone(t, s, "a1", "a2")
	checkFamiliesLive(t, s, "b1")
	if mustGetUser(t, s, bob.ID).Disabled {
		t.Errorf("bob disabled too")
	}

	ended, err = s.SetDisabled(ctx, alice.ID, false, at(2*time.Hour))
	if err != nil {
		t.Fatalf("SetDisabled(false): %v", err)
	}
	checkIDs(t, "ended sessions on enable", ended, nil)
	if mustGetUser(t, s, alice.ID).Disabled {
		t.Errorf("Disabled = true after SetDisabled(false)")
	}

	_, err = s.SetDisabled(ctx, "u-nobody", true, now)
	checkErr(t, "SetDisabled(unknown)", err, storage.ErrNotFound)
}

func testImportUsers(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice := newUser("u-alice", "alice", "alice@example.com")
	mustCreateUser(t, s, alice)

	t.Run("skips taken usernames", func(t *testing.T) {
		in := []storage.User{
			newUser("u-bob", "bob", "bob@example.com"),
			newUser("u-alice-2", "ALICE", "alice2@example.com"), // taken in the database
			newUser("u-bob-2", "Ｂｏｂ", "bob2@example.com"),       // taken earlier in the list
			newUser("u-carol", "carol", ""),
		}
		skipped, err := s.ImportUsers(ctx, in)
		if err != nil {
			t.Fatalf("ImportUsers: %v", err)
		}
		checkIDs(t, "skipped", skipped, []string{"ALICE", "Ｂｏｂ"})
		checkEqual(t, "GetUser(bob)", mustGetUser(t, s, "u-bob"), in[0])
		checkEqual(t, "GetUser(carol)", mustGetUser(t, s, "u-carol"), in[3])
		checkEqual(t, "GetUser(alice)", mustGetUser(t, s, alice.ID), alice)
		for _, id := range []string{"u-alice-2", "u-bob-2"} {
			_, err := s.GetUser(ctx, id)
			checkErr(t, "GetUser("+id+")", err, storage.ErrNotFound)
		}
	})

	// filler is n importable users; the bad user's index is picked so that
	// no other number in a likely error message (SQLite's 1555, 2067)
	// holds its digit.
	filler := func(prefix string, n int) []storage.User {
		var us []storage.User
		for i := range n {
			us = append(us, newUser(fmt.Sprintf("u-%s-%d", prefix, i), fmt.Sprintf("%s-%d", prefix, i), ""))
		}
		return us
	}
	withPK := func(u storage.User, pk int64) storage.User { u.PK = pk; return u }
	tests := []struct {
		name    string
		in      []storage.User
		badUser int
		key     string
	}{
		{"email taken in the database", append(filler("a", 3),
			newUser("u-frank", "frank", "ALICE@example.com"), newUser("u-gina", "gina", "")), 3, "email"},
		{"email taken earlier in the list", append(append(filler("b", 3),
			newUser("u-dave", "dave", "dave@example.com")), newUser("u-erin", "erin", "Dave@Example.com")), 4, "email"},
		{"id taken", append(filler("c", 9), withPK(newUser(alice.ID, "gina", ""), 77)), 9, "id"},
		{"pk taken in the database", append(filler("d", 6), withPK(newUser("u-hal", "hal", ""), alice.PK)), 6, "pk"},
		{"pk taken earlier in the list", append(append(filler("e", 4),
			withPK(newUser("u-ivy", "ivy", ""), 42)), withPK(newUser("u-jay", "jay", ""), 42)), 5, "pk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ImportUsers(ctx, tt.in)
			checkErr(t, "ImportUsers", err, storage.ErrAlreadyExists)
			if err != nil && !strings.Contains(err.Error(), fmt.Sprint(tt.badUser)) {
				t.Errorf("ImportUsers: err = %q, want it to name index %d", err, tt.badUser)
			}
			var ie *storage.ImportError
			if !errors.As(err, &ie) {
				t.Errorf("ImportUsers: err = %v, want an *ImportError", err)
			} else if ie.Index != tt.badUser || ie.Key != tt.key {
				t.Errorf("ImportError = index %d, key %q; want %d, %q", ie.Index, ie.Key, tt.badUser, tt.key)
			}
			for _, u := range tt.in {
				if u.ID == alice.ID {
					continue
				}
				_, err := s.GetUser(ctx, u.ID)
				checkErr(t, "GetUser("+u.ID+") after a failed import", err, storage.ErrNotFound)
			}
			checkEqual(t, "GetUser(alice)", mustGetUser(t, s, alice.ID), alice)
		})
	}

	t.Run("empty list", func(t *testing.T) {
		skipped, err := s.ImportUsers(ctx, nil)
		if err != nil || len(skipped) != 0 {
			t.Errorf("ImportUsers(nil) = %q, %v; want nothing", skipped, err)
		}
	})
}
