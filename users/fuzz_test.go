package users

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormalize checks that the field rules never panic, that what they
// accept is accepted again unchanged (normalising is idempotent), that
// every refusal is a *FieldError, and that a new username is also a valid
// existing one.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"alice", " alice", "jo\u0308rg", "a\x00b", "\u202eevil", "Alice <a@example.com>", "a@example.com", "\xff", strings.Repeat("é", 151),
		"alice\uFE0F", "\u0430lice", "\u3164", "山田たろうTARO", "abcשלום", "l\u00b7l"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, fn := range map[string]func(string) (string, error){
			"username":  NormalizeUsername,
			"existing":  NormalizeExistingUsername,
			"email":     NormalizeEmail,
			"last_name": func(s string) (string, error) { return NormalizeName("last_name", s) },
		} {
			got, err := fn(s)
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != field(name) {
					t.Fatalf("%s(%q) error %v is not a *FieldError for %s", name, s, err, name)
				}
				continue
			}
			if !utf8.ValidString(got) {
				t.Fatalf("%s(%q) = %q, not UTF-8", name, s, got)
			}
			again, err := fn(got)
			if err != nil || again != got {
				t.Fatalf("%s(%q) = %q, but again gives %q, %v", name, s, got, again, err)
			}
		}
		// A new name is always a name that may be stored.
		if n, err := NormalizeUsername(s); err == nil {
			if e, err := NormalizeExistingUsername(s); err != nil || e != n {
				t.Fatalf("NormalizeUsername(%q) = %q, but NormalizeExistingUsername gives %q, %v", s, n, e, err)
			}
		}
	})
}

// field is the FieldError.Field of the rule FuzzNormalize calls name.
func field(name string) string {
	if name == "existing" {
		return "username"
	}
	return name
}

// FuzzParseDjangoDump checks that no input makes the dump parser panic, and
// that every user it returns meets the field rules.
func FuzzParseDjangoDump(f *testing.F) {
	fixture, err := os.ReadFile("testdata/django_users.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(fixture))
	f.Add("[]")
	f.Add(dump(record("auth.user", nil)))
	f.Add(dump(record("auth.group", nil)))
	f.Add(`[{"model":"auth.user","fields":{"username":1}}]`)
	f.Fuzz(func(t *testing.T, in string) {
		users, err := ParseDjangoDump(strings.NewReader(in))
		if err != nil {
			if users != nil {
				t.Fatalf("users and error %v together", err)
			}
			return
		}
		for i, u := range users {
			if n, err := NormalizeExistingUsername(u.Username); err != nil || n != u.Username {
				t.Fatalf("user %d: username %q breaks the rules: %v", i, u.Username, err)
			}
			if n, err := NormalizeEmail(u.Email); err != nil || n != u.Email {
				t.Fatalf("user %d: email %q breaks the rules: %v", i, u.Email, err)
			}
			if u.DateJoined.IsZero() && !strings.Contains(in, "0001-01-01") {
				t.Fatalf("user %d: zero DateJoined", i)
			}
			if (u.PasswordHash == "") != u.UnusablePassword {
				t.Fatalf("user %d: PasswordHash empty %v, UnusablePassword %v", i, u.PasswordHash == "", u.UnusablePassword)
			}
		}
	})
}
