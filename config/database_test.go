package config

import (
	"slices"
	"strings"
	"testing"
)

// TestDatabase: the database key takes a SQLite file path or a PostgreSQL
// URL, and nothing else that looks like a URL.
func TestDatabase(t *testing.T) {
	for _, tt := range []struct {
		value    string
		postgres bool
		problem  string // "" for valid
	}{
		{"./data/authd.db", false, ""},
		{"/var/lib/authd/authd.db", false, ""},
		{"postgres://authd@db.internal/authd?sslmode=verify-full", true, ""},
		{"postgresql://authd:secret@10.0.0.5:5432/authd", true, ""},
		{"POSTGRES://db/authd", true, ""},
		{"postgres:///authd?host=/run/postgresql", true, ""},
		{"", false, "must not be empty"},
		{"mysql://db/authd", false, "not a mysql:// URL"},
		{"sqlite://authd.db", false, "not a sqlite:// URL"},
		{"file:authd.db", false, "not a file: URI"},
		{"postgres://authd:secret@db/authd#frag", true, "is not a valid postgres:// URL"},
		{"postgres://authd:sec%zzret@db/authd", true, "is not a valid postgres:// URL"},
	} {
		if got := IsPostgresURL(tt.value); got != tt.postgres {
			t.Errorf("IsPostgresURL(%q) = %v, want %v", tt.value, got, tt.postgres)
		}
		cfg := Default()
		cfg.Database = tt.value
		problems := cfg.Validate()
		i := slices.IndexFunc(problems, func(p string) bool { return strings.HasPrefix(p, "database: ") })
		switch {
		case tt.problem == "" && i >= 0:
			t.Errorf("database %q: %q, want it valid", tt.value, problems[i])
		case tt.problem != "" && i < 0:
			t.Errorf("database %q: valid, want a problem with %q", tt.value, tt.problem)
		case tt.problem != "" && !strings.Contains(problems[i], tt.problem):
			t.Errorf("database %q: %q, want it to say %q", tt.value, problems[i], tt.problem)
		case i >= 0 && strings.Contains(problems[i], "secret"):
			t.Errorf("database %q: %q shows the password", tt.value, problems[i])
		}
	}
}

// TestDatabaseFromEnvironment: AUTHD_DATABASE selects PostgreSQL as the
// key does.
func TestDatabaseFromEnvironment(t *testing.T) {
	url := "postgres://authd@db.internal/authd?sslmode=require"
	cfg, err := LoadVars("", func(k string) string {
		if k == "AUTHD_DATABASE" {
			return url
		}
		return ""
	}, []string{"AUTHD_DATABASE"})
	if err != nil {
		t.Fatalf("LoadVars: %v", err)
	}
	if cfg.Database != url || !IsPostgresURL(cfg.Database) {
		t.Errorf("Database = %q, want %q", cfg.Database, url)
	}
}
