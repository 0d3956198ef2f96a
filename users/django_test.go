package users

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/password"
)

func readFixture(t *testing.T) []DjangoUser {
	t.Helper()
	f, err := os.Open("testdata/django_users.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseDjangoDump(f)
	if err != nil {
		t.Fatalf("ParseDjangoDump(testdata/django_users.json) = %v", err)
	}
	return got
}

// TestParseDjangoFixture reads a dump written by Django 3.2 itself
// (testdata/gen_django_users.py).
func TestParseDjangoFixture(t *testing.T) {
	got := readFixture(t)
	// pk 3 was deleted in Django before the dump: the pks keep its gap.
	want := []DjangoUser{
		{PK: 1, Username: "alice", Email: "alice@example.com", FirstName: "Alice", LastName: "Liddell", IsActive: true,
			DateJoined: time.Date(2019, 3, 14, 15, 9, 26, 535e6, time.UTC)},
		{PK: 2, Username: "bob.builder", Email: "Bob@example.org", FirstName: "Bob", IsActive: false,
			DateJoined: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
		{PK: 4, Username: "jörg_müller", FirstName: "Jörg", LastName: "Müller", IsActive: true,
			DateJoined: time.Date(2020, 7, 8, 9, 10, 11, 120e6, time.UTC)},
		{PK: 5, Username: "carol+admin", Email: "carol@example.com", IsActive: true, UnusablePassword: true,
			DateJoined: time.Date(2021, 12, 31, 23, 59, 59, 999e6, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d users, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if (g.PasswordHash == "") != w.UnusablePassword {
			t.Errorf("user %d: PasswordHash empty = %v, want %v", i, g.PasswordHash == "", w.UnusablePassword)
		}
		if g.PasswordHash != "" && !strings.HasPrefix(g.PasswordHash, "pbkdf2_sha256$260000$") {
			t.Errorf("user %d: PasswordHash does not look like Django's default hasher", i)
		}
		g.PasswordHash = ""
		if g != w {
			t.Errorf("user %d = %+v, want %+v", i, g, w)
		}
		if g.DateJoined.Location() != time.UTC {
			t.Errorf("user %d: DateJoined in %s, want UTC", i, g.DateJoined.Location())
		}
	}
}

// TestDjangoHashesVerify: the imported hashes log in with their known
// passwords (testdata/README.md) through password, and ask to be
// upgraded to argon2id.
func TestDjangoHashesVerify(t *testing.T) {
	users := readFixture(t)
	h, err := password.New(password.Options{Params: password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]string{
		"alice":       "alice-Wonderland-1",
		"bob.builder": "can-we-fix-it-2",
		"jörg_müller": "Jörg-Passwört-3 ✓",
	}
	ctx := context.Background()
	for _, u := range users {
		pw, ok := known[u.Username]
		if !ok {
			if _, _, err := h.Verify(ctx, "anything", u.PasswordHash); !errors.Is(err, password.ErrNoPassword) {
				t.Errorf("%s: Verify(no password) = %v, want ErrNoPassword", u.Username, err)
			}
			continue
		}
		ok, rehash, err := h.Verify(ctx, pw, u.PasswordHash)
		if !ok || !rehash || err != nil {
			t.Errorf("%s: Verify(known password) = %v, %v, %v; want true, true, nil", u.Username, ok, rehash, err)
		}
		ok, _, err = h.Verify(ctx, pw+"x", u.PasswordHash)
		if ok || err != nil {
			t.Errorf("%s: Verify(wrong password) = %v, %v; want false, nil", u.Username, ok, err)
		}
	}
}

const goodHash = "pbkdf2_sha256$1000$khb2570nm0s7chHr4BzTty$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="

// record builds a dumpdata record; fields overrides or (with a nil value)
// removes fields of a valid one. Its pk is 1 unless fields has "pk": a
// rawJSON value replaces it, nil removes it.
func record(model string, fields map[string]any) string {
	pk, hasPK := `"pk": 1, `, true
	if v, ok := fields["pk"]; ok {
		pk, hasPK = "", v != nil
		if hasPK {
			pk = `"pk": ` + jsonValue(v) + ", "
		}
	}
	f := map[string]any{
		"password": goodHash, "last_login": nil, "is_superuser": false,
		"username": "user", "first_name": "", "last_name": "", "email": "",
		"is_staff": false, "is_active": true, "date_joined": "2020-01-02T03:04:05.678Z",
		"groups": []int{}, "user_permissions": []int{},
	}
	for k, v := range fields {
		if k == "pk" {
			continue
		}
		if v == nil {
			delete(f, k)
		} else {
			f[k] = v
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"model": %q, %s"fields": {`, model, pk)
	first := true
	for k, v := range f {
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%q: %s", k, jsonValue(v))
	}
	b.WriteString("}}")
	return b.String()
}

type rawJSON string

func jsonValue(v any) string {
	switch v := v.(type) {
	case rawJSON:
		return string(v)
	case string:
		return fmt.Sprintf("%q", v)
	case []int:
		return "[]"
	case bool:
		return fmt.Sprint(v)
	}
	return "null"
}

func dump(records ...string) string { return "[" + strings.Join(records, ",\n") + "]" }

func TestParseDjangoDumpErrors(t *testing.T) {
	ok := record("auth.user", nil)
	for _, tc := range []struct {
		name   string
		in     string
		index  int
		reason string // part of Reason
		cause  error  // wrapped, when set
	}{
		{"other model", dump(ok, record("auth.group", nil)), 1, `model is "auth.group"`, nil},
		{"custom user model", dump(record("accounts.user", nil)), 0, "model", nil},
		{"no fields", dump(ok, ok, `{"model": "auth.user", "pk": 3}`), 2, "no fields", nil},
		{"null fields", dump(`{"model": "auth.user", "pk": 3, "fields": null}`), 0, "no fields", nil},
		{"record not an object", dump(ok, `"auth.user"`), 1, "where an object was expected", nil},
		{"fields not an object", dump(`{"model": "auth.user", "fields": []}`), 0, "where an object was expected", nil},
		{"missing username", dump(ok, record("auth.user", map[string]any{"username": nil})), 1, "username is missing", nil},
		{"null email", dump(record("auth.user", map[string]any{"email": rawJSON("null")})), 0, "email is missing or null", nil},
		{"missing password", dump(record("auth.user", map[string]any{"password": nil})), 0, "password is missing", nil},
		{"missing is_active", dump(record("auth.user", map[string]any{"is_active": nil})), 0, "is_active is missing", nil},
		{"missing date_joined", dump(record("auth.user", map[string]any{"date_joined": nil})), 0, "date_joined is missing", nil},
		{"username a number", dump(ok, ok, ok, record("auth.user", map[string]any{"username": rawJSON("42")})), 3, "field username: want a string, got JSON number", nil},
		{"is_active a string", dump(record("auth.user", map[string]any{"is_active": "true"})), 0, "field is_active: want a boolean, got JSON string", nil},
		{"is_active a number", dump(record("auth.user", map[string]any{"is_active": rawJSON("1")})), 0, "is_active", nil},
		{"bad date", dump(record("auth.user", map[string]any{"date_joined": "yesterday"})), 0, "date_joined", nil},
		{"empty username", dump(ok, record("auth.user", map[string]any{"username": ""})), 1, "field username", ErrEmpty},
		{"username with NUL", dump(record("auth.user", map[string]any{"username": rawJSON(`"a\u0000b"`)})), 0, "field username", ErrForbiddenChar},
		{"username RTL override", dump(record("auth.user", map[string]any{"username": "\u202eevil"})), 0, "field username", ErrForbiddenChar},
		{"username too long", dump(record("auth.user", map[string]any{"username": strings.Repeat("a", 151)})), 0, "150", ErrTooLong},
		{"username trailing space", dump(record("auth.user", map[string]any{"username": "bob "})), 0, "field username", ErrSurroundingSpace},
		{"invalid email", dump(ok, record("auth.user", map[string]any{"email": "not-an-email"})), 1, "field email", ErrInvalidEmail},
		{"email with name", dump(record("auth.user", map[string]any{"email": "Bob <bob@example.com>"})), 0, "field email", ErrInvalidEmail},
		{"first name control", dump(record("auth.user", map[string]any{"first_name": "a\nb"})), 0, "field first_name", ErrForbiddenChar},
		{"last name too long", dump(record("auth.user", map[string]any{"last_name": strings.Repeat("x", 151)})), 0, "field last_name", ErrTooLong},
		{"sha1 hash", dump(ok, record("auth.user", map[string]any{"password": "sha1$abc$2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"})), 1, `field password: unknown or malformed hash format: "sha1"`, password.ErrUnknownFormat},
		{"md5 unsalted", dump(record("auth.user", map[string]any{"password": "5f4dcc3b5aa765d61d8327deb882cf99"})), 0, "field password", password.ErrUnknownFormat},
		{"pbkdf2 too costly", dump(record("auth.user", map[string]any{"password": "pbkdf2_sha256$99999999$salt$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="})), 0, "iterations", password.ErrUnknownFormat},
		{"syntax error", dump(ok, `{"model": "auth.user",}`), 1, "invalid JSON", nil},
		{"pk zero", dump(record("auth.user", map[string]any{"pk": rawJSON("0")})), 0, "field pk: want a positive integer", nil},
		{"pk negative", dump(record("auth.user", map[string]any{"pk": rawJSON("-3")})), 0, "field pk", nil},
		{"pk a string", dump(record("auth.user", map[string]any{"pk": "7"})), 0, "field pk", nil},
		{"pk a fraction", dump(record("auth.user", map[string]any{"pk": rawJSON("7.5")})), 0, "field pk", nil},
		{"pk in exponent form", dump(record("auth.user", map[string]any{"pk": rawJSON("1e3")})), 0, "field pk", nil},
		{"pk past int64", dump(record("auth.user", map[string]any{"pk": rawJSON("9223372036854775808")})), 0, "field pk", nil},
		{"pk an object", dump(record("auth.user", map[string]any{"pk": rawJSON(`{"id": 1}`)})), 0, "field pk", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users, err := ParseDjangoDump(strings.NewReader(tc.in))
			var ie *ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("ParseDjangoDump = %v, %v; want an *ImportError", users, err)
			}
			if users != nil {
				t.Errorf("got %d users with the error, want none", len(users))
			}
			if ie.Index != tc.index {
				t.Errorf("Index = %d, want %d (%v)", ie.Index, tc.index, err)
			}
			if !strings.Contains(ie.Reason, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", ie.Reason, tc.reason)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v does not wrap %v", err, tc.cause)
			}
			if strings.Contains(err.Error(), "2fd4e1c67a2d") || strings.Contains(err.Error(), "yGM6qVFTc44") {
				t.Errorf("error %q repeats a password hash", err)
			}
		})
	}
}

func TestParseDjangoDumpFile(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		wantErr  bool
	}{
		{"empty array", "[]", 0, false},
		{"whitespace", " \n[ ]\n\n", 0, false},
		{"naive date", dump(record("auth.user", map[string]any{"date_joined": "2020-01-02T03:04:05.678"})), 1, false},
		{"offset date", dump(record("auth.user", map[string]any{"date_joined": "2020-01-02T04:04:05+01:00"})), 1, false},
		{"empty input", "", 0, true},
		{"object", `{"model": "auth.user"}`, 0, true},
		{"unterminated", "[" + record("auth.user", nil), 0, true},
		{"trailing data", "[] []", 0, true},
		{"trailing garbage", "[]x", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users, err := ParseDjangoDump(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr || len(users) != tc.n {
				t.Errorf("ParseDjangoDump = %d users, %v; want %d, error %v", len(users), err, tc.n, tc.wantErr)
			}
		})
	}
	users, err := ParseDjangoDump(strings.NewReader(dump(record("auth.user", map[string]any{"date_joined": "2020-01-02T04:04:05+01:00"}))))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC); !users[0].DateJoined.Equal(want) || users[0].DateJoined.Location() != time.UTC {
		t.Errorf("DateJoined = %s, want %s", users[0].DateJoined, want)
	}
}

func TestParseDjangoDumpTooLarge(t *testing.T) {
	in := dump(record("auth.user", nil), record("auth.user", map[string]any{"username": "other", "pk": rawJSON("2")}))
	if _, err := parseDjangoDump(strings.NewReader(in), int64(len(in))); err != nil {
		t.Errorf("dump of exactly the limit = %v, want nil", err)
	}
	for _, limit := range []int64{1, 10, int64(len(in)) / 2, int64(len(in)) - 1} {
		if _, err := parseDjangoDump(strings.NewReader(in), limit); !errors.Is(err, ErrDumpTooLarge) {
			t.Errorf("limit %d of %d bytes: error = %v, want ErrDumpTooLarge", limit, len(in), err)
		}
	}
	// Whitespace after the array counts too.
	padded := in + strings.Repeat(" ", 100)
	if _, err := parseDjangoDump(strings.NewReader(padded), int64(len(in))); !errors.Is(err, ErrDumpTooLarge) {
		t.Errorf("trailing white space past the limit: error = %v, want ErrDumpTooLarge", err)
	}
}
