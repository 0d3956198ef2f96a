package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/storage/postgres/pgtest"
)

// verifyWithJWKS checks that the JWS token is signed by a key that the
// server at base publishes, and returns the key's id.
func verifyWithJWKS(t *testing.T, base, token string) string {
	t.Helper()
	code, body := get(t, base+"/.well-known/jwks.json")
	if code != 200 {
		t.Fatalf("GET jwks: %d %s", code, body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) == 0 {
		t.Fatalf("the JWKS of %s lacks key %q", base, kid)
	}
	if _, err := jws.Verify(keys[0]); err != nil {
		t.Fatalf("access token does not verify with key %q of the JWKS: %v", kid, err)
	}
	return kid
}

// TestDBCopyToPostgres moves a serving SQLite database to PostgreSQL with
// authd db copy, then serves the copy: the user logs in with the password
// set before the move, a retry of the last rotation made before it is
// answered from its copied replay, the refresh token current at the move
// (the third of its chain) rotates, and an access token signed before the
// move verifies against the new server's JWKS.
func TestDBCopyToPostgres(t *testing.T) {
	cluster := pgtest.StartForTest(t)
	env := testEnv(t)
	// Long enough for the retry below to fall within the grace.
	env["AUTHD_TOKENS_REFRESH_REUSE_GRACE"] = "1m"
	s := startServe(t, env)
	if out, err := runCLI(t, env, "old password 1\n", "users", "add", "--username", "ann", "--email", "ann@example.com", "--password-stdin"); err != nil {
		t.Fatalf("users add: %v %s", err, out)
	}
	code, tok := postForm(t, s.url+"/oauth2/token", passwordForm("ann", "old password 1"))
	if code != 200 {
		t.Fatalf("login: %d %v", code, tok)
	}
	access := tok["access_token"].(string)
	rt := tok["refresh_token"].(string)
	var spent string
	for range 2 { // mid-chain: the third token of the family is current
		code, next := postForm(t, s.url+"/oauth2/token", refreshForm(rt))
		if code != 200 {
			t.Fatalf("refresh: %d %v", code, next)
		}
		spent, rt = rt, next["refresh_token"].(string)
	}
	kids := jwksKids(t, s.url)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	url := mustCreateDatabase(t, cluster)
	out, err := runCLI(t, env, "", "db", "copy", "--to", url)
	if err != nil {
		t.Fatalf("db copy: %v", err)
	}
	if !strings.HasPrefix(out, "copied "+env["AUTHD_DATABASE"]+" to postgres://") || !strings.Contains(out, "users=1 ") ||
		!strings.Contains(out, "sessions=1 ") || !strings.Contains(out, "(row counts checked)") {
		t.Errorf("db copy said %q", out)
	}
	if _, err := runCLI(t, env, "", "db", "copy", "--to", url); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second db copy into the same database = %v, want a refusal (not empty)", err)
	}

	pg := maps.Clone(env)
	pg["AUTHD_DATABASE"] = url
	s2 := startServe(t, pg)
	if got := login(t, s2, "ann", "old password 1"); got != 200 {
		t.Errorf("login on the copy: %d, want 200", got)
	}
	if got := jwksKids(t, s2.url); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(kids))) {
		t.Errorf("JWKS of the copy = %v, want %v", got, kids)
	}
	verifyWithJWKS(t, s2.url, access)
	code, retry := postForm(t, s2.url+"/oauth2/token", refreshForm(spent))
	if code != 200 || retry["refresh_token"] != rt {
		t.Errorf("retry of the last rotation before the copy: %d %v, want 200 with the same refresh token", code, retry)
	}
	code, next := postForm(t, s2.url+"/oauth2/token", refreshForm(rt))
	if code != 200 || next["refresh_token"] == rt {
		t.Fatalf("refresh of the current token on the copy: %d %v", code, next)
	}
	verifyWithJWKS(t, s2.url, next["access_token"].(string))
}

// mustCreateDatabase creates an empty database on the cluster.
func mustCreateDatabase(t *testing.T, c *pgtest.Cluster) string {
	t.Helper()
	url, err := c.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// TestPostgresCommands: the commands on a PostgreSQL database. migrate
// creates authd's tables; the other commands refuse a database without
// them; backup points to pg_dump; db copy refuses bad arguments and leaves
// no file behind when it fails.
func TestPostgresCommands(t *testing.T) {
	cluster := pgtest.StartForTest(t)
	env := testEnv(t)
	env["AUTHD_DATABASE"] = mustCreateDatabase(t, cluster)

	_, err := runCLI(t, env, "pw password 1\n", "users", "add", "--username", "bo", "--password-stdin")
	if err == nil || !strings.Contains(err.Error(), "has no authd tables") {
		t.Errorf("users add on an empty PostgreSQL database = %v, want a refusal", err)
	}
	out, err := runCLI(t, env, "", "migrate")
	if err != nil || !strings.HasPrefix(out, "applied ") || strings.HasPrefix(out, "applied 0 ") {
		t.Fatalf("migrate = %q, %v", out, err)
	}
	if out, err := runCLI(t, env, "", "migrate"); err != nil || !strings.HasPrefix(out, "applied 0 migration(s)") {
		t.Errorf("second migrate = %q, %v", out, err)
	}
	if out, err := runCLI(t, env, "pw password 1\n", "users", "add", "--username", "bo", "--password-stdin"); err != nil {
		t.Errorf("users add after migrate: %v %s", err, out)
	}
	if out, err := runCLI(t, env, "", "keys", "list"); err != nil || !strings.Contains(out, "active") {
		t.Errorf("keys list = %q, %v", out, err)
	}

	_, err = runCLI(t, env, "", "backup", filepath.Join(t.TempDir(), "b.db"))
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup of a PostgreSQL database = %v, want a pointer to pg_dump", err)
	}

	// Back to SQLite: a copy into a new file.
	back := filepath.Join(t.TempDir(), "back.db")
	if out, err := runCLI(t, env, "", "db", "copy", "--to", back); err != nil || !strings.Contains(out, "users=1 ") {
		t.Errorf("db copy to SQLite = %q, %v", out, err)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"db", "copy"}, "--to is required"},
		{[]string{"db", "copy", "--to", env["AUTHD_DATABASE"]}, "same database"},
		{[]string{"db", "copy", "--to", "mysql://x/y"}, "--to must be a SQLite file path or a postgres:// URL"},
		{[]string{"db", "copy", "--from", filepath.Join(t.TempDir(), "none.db"), "--to", filepath.Join(t.TempDir(), "x.db")}, "does not exist"},
		{[]string{"db", "copy", "--to", back}, "not empty"},
		{[]string{"db", "nope"}, "unknown command"},
	} {
		_, err := runCLI(t, env, "", tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v = %v, want an error with %q", tt.args, err, tt.want)
		}
	}
	// A copy that fails (a PostgreSQL database that does not exist on the
	// server) into a new file leaves no file behind.
	target := filepath.Join(t.TempDir(), "new.db")
	missing := strings.Replace(env["AUTHD_DATABASE"], "/t", "/missing_t", 1)
	if _, err := runCLI(t, env, "", "db", "copy", "--from", missing, "--to", target); err == nil {
		t.Error("db copy from a missing PostgreSQL database: no error")
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("a failed copy left %s behind (%v)", target, err)
	}
	out, err = runCLI(t, env, "", "db", "--help")
	if err != nil || !strings.Contains(out, "Usage") {
		t.Errorf("db --help = %q, %v", out, err)
	}
}
