package users

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
)

// openStore is an empty, migrated database private to the test.
func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "authd.db"), sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

var importNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// checkNoUsers fails unless none of the usernames is in the store.
func checkNoUsers(t *testing.T, db *sqlite.DB, usernames ...string) {
	t.Helper()
	for _, name := range usernames {
		if u, err := db.GetUserByUsername(t.Context(), name); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetUserByUsername(%q) = %q, %v; want ErrNotFound: nothing imported", name, u.ID, err)
		}
	}
}

// TestImportDjangoKeepsPKs imports the dump made by Django: every user
// keeps Django's pk, gap included, and the next user authd creates gets the
// highest plus one.
func TestImportDjangoKeepsPKs(t *testing.T) {
	ctx := t.Context()
	db := openStore(t)
	dump := readFixture(t)
	res, err := ImportDjango(ctx, db, dump, importNow)
	if err != nil {
		t.Fatalf("ImportDjango: %v", err)
	}
	if res.Imported != 4 || len(res.Skipped) != 0 || res.Unusable != 1 {
		t.Errorf("ImportDjango = %+v, want 4 imported, none skipped, 1 unusable", res)
	}
	for _, d := range dump {
		u, err := db.GetUserByPK(ctx, d.PK)
		if err != nil {
			t.Errorf("GetUserByPK(%d): %v", d.PK, err)
			continue
		}
		if u.Username != d.Username || u.Email != d.Email || u.PasswordHash != d.PasswordHash ||
			u.Disabled == d.IsActive || !u.CreatedAt.Equal(d.DateJoined) || !u.UpdatedAt.Equal(importNow) ||
			!strings.HasPrefix(u.ID, IDPrefix) {
			t.Errorf("GetUserByPK(%d) = %+v, want the dump's %s", d.PK, u, d.Username)
		}
	}
	if _, err := db.GetUserByPK(ctx, 3); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUserByPK(3), deleted in Django: %v, want ErrNotFound", err)
	}
	if err := db.CreateUser(ctx, storage.User{ID: NewID(), Username: "newcomer", CreatedAt: importNow}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if u, err := db.GetUserByUsername(ctx, "newcomer"); err != nil || u.PK != 6 {
		t.Errorf("user created after the import: pk %d, %v; want 6", u.PK, err)
	}

	again, err := ImportDjango(ctx, db, dump, importNow)
	if err != nil {
		t.Fatalf("ImportDjango again: %v", err)
	}
	if again.Imported != 0 || len(again.Skipped) != 4 || again.Unusable != 0 {
		t.Errorf("ImportDjango again = %+v, want 0 imported, 4 skipped, 0 unusable", again)
	}
}

// TestImportDjangoWithoutPKs: a dump made with --natural-primary has no
// pks; its users are numbered after the store's highest.
func TestImportDjangoWithoutPKs(t *testing.T) {
	ctx := t.Context()
	db := openStore(t)
	if err := db.CreateUser(ctx, storage.User{ID: NewID(), PK: 10, Username: "native", CreatedAt: importNow}); err != nil {
		t.Fatal(err)
	}
	in := dump(record("auth.user", map[string]any{"pk": nil, "username": "first"}),
		record("auth.user", map[string]any{"pk": rawJSON("null"), "username": "second"}))
	parsed, err := ParseDjangoDump(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ParseDjangoDump: %v", err)
	}
	if _, err := ImportDjango(ctx, db, parsed, importNow); err != nil {
		t.Fatalf("ImportDjango: %v", err)
	}
	for name, want := range map[string]int64{"first": 11, "second": 12} {
		if u, err := db.GetUserByUsername(ctx, name); err != nil || u.PK != want {
			t.Errorf("%s: pk %d, %v; want %d", name, u.PK, err, want)
		}
	}
}

// TestDjangoConflictsFixture: Django holds "Mike", "mike", fullwidth
// "ｍｉｋｅ", "straße" and "STRASSE" side by side, and two accounts with one
// email in different case (testdata/gen_django_users.py). authd names every
// pair, by index and pk, and imports nothing.
func TestDjangoConflictsFixture(t *testing.T) {
	f, err := os.Open("testdata/django_users_conflicts.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseDjangoDump(f)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("ParseDjangoDump = %d users, %v; want a *ConflictError", len(got), err)
	}
	if got != nil {
		t.Errorf("got %d users with the error, want none", len(got))
	}
	rec := func(i int, pk int64, name string) ConflictRecord {
		return ConflictRecord{Index: i, PK: pk, Username: name}
	}
	want := []Conflict{
		{"username", rec(0, 1, "Mike"), rec(1, 2, "mike")},
		{"email", rec(2, 3, "eve"), rec(4, 5, "Eve2")},
		{"username", rec(0, 1, "Mike"), rec(5, 6, "ｍｉｋｅ")},
		{"username", rec(6, 7, "straße"), rec(7, 8, "STRASSE")},
	}
	if !reflect.DeepEqual(ce.Conflicts, want) {
		t.Errorf("Conflicts = %+v\nwant %+v", ce.Conflicts, want)
	}
	msg := err.Error()
	for _, part := range []string{
		"4 conflict(s), nothing imported",
		`record 0 (pk 1, username "Mike") and record 1 (pk 2, username "mike") have usernames that are one name to authd`,
		`record 2 (pk 3, username "eve") and record 4 (pk 5, username "Eve2") have the same email address`,
		`record 6 (pk 7, username "straße") and record 7 (pk 8, username "STRASSE")`,
	} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q lacks %q", msg, part)
		}
	}
	if strings.Contains(msg, "pbkdf2") {
		t.Errorf("error %q repeats a password hash", msg)
	}
}

func TestCheckDjangoConflicts(t *testing.T) {
	u := func(pk int64, name, email string) DjangoUser {
		return DjangoUser{PK: pk, Username: name, Email: email}
	}
	tests := []struct {
		name string
		in   []DjangoUser
		want []string // Field of each conflict, in order
	}{
		{"none", []DjangoUser{u(1, "a", "a@x.org"), u(2, "b", ""), u(3, "c", "")}, nil},
		{"no pks at all", []DjangoUser{u(0, "a", ""), u(0, "b", "")}, nil},
		{"same pk", []DjangoUser{u(1, "a", ""), u(1, "b", "")}, []string{"pk"}},
		{"same username", []DjangoUser{u(1, "a", ""), u(2, "a", "")}, []string{"username"}},
		{"ligature", []DjangoUser{u(1, "ﬁsh", ""), u(2, "fish", "")}, []string{"username"}},
		{"decomposed", []DjangoUser{u(1, "Zo\u00eb", ""), u(2, "zoe\u0308", "")}, []string{"username"}},
		{"email case", []DjangoUser{u(1, "a", "Bob@Example.org"), u(2, "b", "bob@example.ORG")}, []string{"email"}},
		{"three of one name", []DjangoUser{u(1, "A", ""), u(2, "a", ""), u(3, "Ａ", "")}, []string{"username", "username"}},
		{"one pair on every key", []DjangoUser{u(4, "a", "a@x.org"), u(4, "A", "A@X.org")}, []string{"username", "email", "pk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDjangoConflicts(tt.in)
			var fields []string
			var ce *ConflictError
			if errors.As(err, &ce) {
				for _, c := range ce.Conflicts {
					fields = append(fields, c.Field)
				}
			} else if err != nil {
				t.Fatalf("CheckDjangoConflicts = %v, want nil or a *ConflictError", err)
			}
			if !reflect.DeepEqual(fields, tt.want) {
				t.Errorf("conflicts on %q, want %q (%v)", fields, tt.want, err)
			}
		})
	}

	many := make([]DjangoUser, 15)
	for i := range many {
		many[i] = u(int64(i+1), "same", "")
	}
	if msg := CheckDjangoConflicts(many).Error(); !strings.Contains(msg, "14 conflict(s)") || !strings.Contains(msg, "and 4 more") {
		t.Errorf("error for 14 conflicts = %q, want it to list 10 and count the rest", msg)
	}
}

// TestImportDjangoConflictsInTheDump: a list with conflicts that did not
// come through ParseDjangoDump is refused too, with nothing written.
func TestImportDjangoConflictsInTheDump(t *testing.T) {
	db := openStore(t)
	in := []DjangoUser{
		{PK: 1, Username: "zed", IsActive: true},
		{PK: 2, Username: "Mike", IsActive: true},
		{PK: 3, Username: "mike", IsActive: true},
	}
	_, err := ImportDjango(t.Context(), db, in, importNow)
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0].First.Index != 1 || ce.Conflicts[0].Second.Index != 2 {
		t.Fatalf("ImportDjango = %v, want a *ConflictError for records 1 and 2", err)
	}
	checkNoUsers(t, db, "zed", "Mike")
}

// TestImportDjangoTakenInTheStore: a record whose email or pk a user of the
// store already holds aborts the import with an error naming the record and
// that user, not the database's constraint.
func TestImportDjangoTakenInTheStore(t *testing.T) {
	tests := []struct {
		name     string
		existing storage.User
		index    int
		want     string
	}{
		{"email", storage.User{PK: 100, Username: "alice2", Email: "ALICE@example.com"}, 0,
			`record 0: pk 1, username "alice": its email address (ignoring case) is already the address of user "alice2" (pk 100)`},
		{"pk", storage.User{PK: 4, Username: "native"}, 2,
			`record 2: pk 4, username "jörg_müller": its pk 4 already belongs to user "native" (pk 4)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openStore(t)
			tt.existing.ID = NewID()
			if err := db.CreateUser(t.Context(), tt.existing); err != nil {
				t.Fatal(err)
			}
			_, err := ImportDjango(t.Context(), db, readFixture(t), importNow)
			var ie *ImportError
			if !errors.As(err, &ie) || ie.Index != tt.index {
				t.Fatalf("ImportDjango = %v, want an *ImportError for record %d", err, tt.index)
			}
			if !errors.Is(err, storage.ErrAlreadyExists) {
				t.Errorf("error %v does not wrap storage.ErrAlreadyExists", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "UNIQUE") {
				t.Errorf("error %q shows the database's constraint", err)
			}
			checkNoUsers(t, db, "alice", "bob.builder", "jörg_müller", "carol+admin")
		})
	}
}
