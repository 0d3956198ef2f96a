package postgres

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
)

// openSQLite opens and migrates a new SQLite database, closed when t ends.
func openSQLite(t *testing.T) *sqlite.DB {
	db, _ := openSQLiteAt(t)
	return db
}

// openSQLiteAt is openSQLite that also returns the file's path.
func openSQLiteAt(t *testing.T) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authd.db")
	db, err := sqlite.Open(t.Context(), path, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db, path
}

// base is the reference time of populate; ten years ahead, so nothing it
// writes has expired when the test runs.
var base = time.Now().Add(10 * 365 * 24 * time.Hour).Truncate(time.Second).Add(123456789)

// populate fills s with a row of every kind, in every state that matters
// to a copy: users with and without given pks, emails and hashes; a
// session whose refresh family is mid-chain (two spent tokens, one with
// its replay kept, and the current one); an ended session; the three key
// states with sealed private keys; a pending and a redeemed code; used
// and unused one-time tokens; a revoked jti.
func populate(t *testing.T, s storage.Storage) {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	hash := "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
	must(s.CreateUser(ctx, storage.User{ID: "u-alice", PK: 7, Username: "Alice", Email: "alice@example.com", EmailVerified: true,
		PasswordHash: hash, FirstName: "Alice", LastName: "Liddell", CreatedAt: base, UpdatedAt: base.Add(time.Second)}))
	must(s.CreateUser(ctx, storage.User{ID: "u-bob", Username: "bob", PasswordHash: "pbkdf2_sha256$870000$salt$hash", CreatedAt: base}))
	// A stored client: its lists and its secret's hash travel as they are.
	must(s.CreateClient(ctx, storage.Client{ID: "reports", Name: "Reports", SecretHash: []byte("0123456789abcdef0123456789abcdef"),
		Grants: []string{"client_credentials"}, Scopes: []string{"api", "api.read"}, CreatedAt: base, UpdatedAt: base}))
	must(s.CreateClient(ctx, storage.Client{ID: "spa", Public: true, Grants: []string{"authorization_code"},
		RedirectURIs: []string{"https://spa.example.com/cb"}, CreatedAt: base, UpdatedAt: base}))
	must(s.CreateUser(ctx, storage.User{ID: "u-carol", Username: "carol", Email: "carol@example.com", CreatedAt: base}))
	if _, err := s.SetDisabled(ctx, "u-carol", true, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	sess := storage.Session{ID: "s-alice", UserID: "u-alice", ClientID: "spa", Scope: "openid offline_access",
		AuthTime: base, CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(90 * 24 * time.Hour),
		UserAgent: "Firefox", Address: "192.0.2.1",
		Refresh: &storage.RefreshFamily{Hash: "rt-0", Key: []byte("family key\x00alice"), ExpiresAt: base.Add(14 * 24 * time.Hour)}}
	must(s.CreateSession(ctx, sess))
	for gen := range uint64(2) { // mid-chain: generation 2 is current
		at := base.Add(time.Duration(gen+1) * time.Hour)
		must(s.RotateRefresh(ctx, sess.ID, gen, storage.RefreshRotation{Hash: fmt.Sprintf("rt-%d", gen+1),
			ExpiresAt: at.Add(14 * 24 * time.Hour), Replay: []byte(fmt.Sprintf("sealed reply %d", gen+1)), ReplayUntil: at.Add(time.Minute)}, at))
	}
	must(s.CreateSession(ctx, storage.Session{ID: "s-bob", UserID: "u-bob", ClientID: "cli", CreatedAt: base, ExpiresAt: base.Add(time.Hour),
		Refresh: &storage.RefreshFamily{Hash: "rt-bob", Key: []byte("k"), ExpiresAt: base.Add(time.Hour)}}))
	must(s.EndSession(ctx, "s-bob", base.Add(time.Minute)))
	// A browser sign-in, which codes are bound to.
	must(s.CreateSession(ctx, storage.Session{ID: "s-web", UserID: "u-alice", ClientID: "authd", CreatedAt: base, ExpiresAt: base.Add(24 * time.Hour)}))

	must(s.UpdateKeys(ctx, func([]storage.Key) ([]storage.Key, error) {
		return []storage.Key{
			{ID: "k-old", Algorithm: "RS256", State: storage.KeyRetired, Private: []byte("sealed\x00old"), Public: []byte(`{"kid":"k-old"}`),
				CreatedAt: base, ActivatedAt: base, RetiredAt: base.Add(time.Hour), RemoveAt: base.Add(48 * time.Hour)},
			{ID: "k-cur", Algorithm: "EdDSA", State: storage.KeyActive, Private: []byte("sealed cur"), Public: []byte(`{"kid":"k-cur"}`),
				CreatedAt: base, ActivatedAt: base.Add(time.Hour)},
			{ID: "k-next", Algorithm: "EdDSA", State: storage.KeyNext, Private: []byte("sealed next"), Public: []byte(`{"kid":"k-next"}`),
				CreatedAt: base.Add(time.Hour)},
		}, nil
	}))

	code := func(hash string) storage.AuthCode {
		return storage.AuthCode{Hash: hash, ClientID: "spa", UserID: "u-alice", RedirectURI: "https://app.example/cb",
			Scope: "openid", Nonce: "n-" + hash, CodeChallenge: "challenge", CodeChallengeMethod: "S256",
			AuthTime: base, CreatedAt: base, ExpiresAt: base.Add(time.Minute), SignInSessionID: "s-web"}
	}
	must(s.CreateAuthCode(ctx, code("code-pending")))
	must(s.CreateAuthCode(ctx, code("code-redeemed")))
	if _, err := s.RedeemAuthCode(ctx, "code-redeemed", storage.Session{ID: "s-code", UserID: "u-alice", ClientID: "spa",
		CreatedAt: base, ExpiresAt: base.Add(time.Hour)}, base.Add(time.Second)); err != nil {
		t.Fatal(err)
	}

	ott := func(hash, purpose string, at time.Time) storage.OneTimeToken {
		return storage.OneTimeToken{Hash: hash, Purpose: purpose, UserID: "u-alice", Email: "alice@example.com",
			CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	}
	must(s.CreateOneTimeToken(ctx, ott("ott-reset-old", storage.PurposeReset, base)))
	must(s.CreateOneTimeToken(ctx, ott("ott-reset", storage.PurposeReset, base.Add(time.Minute)))) // voids the old one
	must(s.CreateOneTimeToken(ctx, ott("ott-verify", storage.PurposeVerifyEmail, base)))
	must(s.RevokeJTI(ctx, "jti-1", base.Add(15*time.Minute)))
}

// dumpAll reads every row of d, flags as int64 (as SQLite gives them),
// rows sorted, for comparing two databases whatever their backends.
func dumpAll(t *testing.T, d storage.Dumper) map[string][]string {
	t.Helper()
	all := map[string][]string{}
	err := d.Dump(t.Context(), func(s storage.Snapshot) error {
		for _, tb := range s.Tables() {
			cols := slices.Clone(tb.Columns)
			err := s.Rows(t.Context(), tb.Name, func(row []any) error {
				var parts []string
				for i, v := range row {
					switch x := v.(type) {
					case bool:
						v = map[bool]int64{false: 0, true: 1}[x]
					case []byte:
						v = string(x)
					}
					parts = append(parts, fmt.Sprintf("%s=%#v", cols[i], v))
				}
				slices.Sort(parts)
				all[tb.Name] = append(all[tb.Name], strings.Join(parts, " "))
				return nil
			})
			if err != nil {
				return err
			}
			slices.Sort(all[tb.Name])
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	return all
}

// TestCopy copies a populated SQLite database to PostgreSQL, checks that
// every row arrived unchanged and that the copy works as the original
// would (the refresh family rotates from where it was, a spent token is
// still spent, the pending code redeems, the reset link resets, the pk
// numbering continues), then copies it back to a new SQLite database and
// checks that the round trip changed nothing.
func TestCopy(t *testing.T) {
	ctx := t.Context()
	src, path := openSQLiteAt(t)
	populate(t, src)
	addLegacyFamily(t, path)
	want := dumpAll(t, src)

	dst := openTest(t)
	var calls int
	counts, err := storage.Copy(ctx, src, dst, func(string, int64, int64) { calls++ })
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if calls == 0 {
		t.Error("Copy called progress never")
	}
	wantCounts := map[string]int64{"users": 3, "sessions": 5, "legacy_refresh_tokens": 1, "keys": 3, "revoked_jtis": 1, "one_time_tokens": 3, "auth_codes": 2, "clients": 2}
	for _, c := range counts {
		if c.Rows != wantCounts[c.Table] {
			t.Errorf("copied %d rows of %s, want %d", c.Rows, c.Table, wantCounts[c.Table])
		}
	}
	if len(counts) != len(wantCounts) {
		t.Errorf("copied %d tables, want %d: %v", len(counts), len(wantCounts), counts)
	}
	if got := dumpAll(t, dst); !reflect.DeepEqual(got, want) {
		t.Errorf("the copy differs:\ngot  %v\nwant %v", got, want)
	}

	// The copy works as the original would.
	if u, err := dst.GetUserByUsername(ctx, "ALICE"); err != nil || u.PK != 7 || u.PasswordHash == "" {
		t.Errorf("GetUserByUsername(ALICE) = %+v, %v", u, err)
	}
	f := mustSession(t, dst, "s-alice").Refresh
	if f == nil || f.Generation != 2 || f.Hash != "rt-2" || string(f.Key) != "family key\x00alice" ||
		string(f.Replay) != "sealed reply 2" || f.ReplayGeneration != 1 {
		t.Errorf("family of s-alice on the copy = %+v, want generation 2 mid-chain with its key and replay", f)
	}
	at := base.Add(3 * time.Hour)
	next := storage.RefreshRotation{Hash: "rt-3", ExpiresAt: at.Add(time.Hour)}
	checkErr(t, "RotateRefresh from a spent generation", dst.RotateRefresh(ctx, "s-alice", 1, next, at), storage.ErrSpent)
	checkErr(t, "RotateRefresh from the current generation", dst.RotateRefresh(ctx, "s-alice", 2, next, at), nil)
	checkErr(t, "RotateRefresh of an ended session", dst.RotateRefresh(ctx, "s-bob", 0, next, at), storage.ErrNotFound)
	if sid, err := dst.LegacyRefreshSession(ctx, "legacy-token-hash"); err != nil || sid != "s-legacy" {
		t.Errorf("LegacyRefreshSession = %q, %v; want s-legacy", sid, err)
	}
	checkErr(t, "RotateRefresh of the legacy family", dst.RotateRefresh(ctx, "s-legacy", 0,
		storage.RefreshRotation{Hash: "v2", Key: []byte("new key"), ExpiresAt: at.Add(time.Hour)}, at), nil)
	_, err = dst.LegacyRefreshSession(ctx, "legacy-token-hash")
	checkErr(t, "LegacyRefreshSession after the family rotated", err, storage.ErrNotFound)
	if _, err := dst.RedeemAuthCode(ctx, "code-pending", storage.Session{ID: "s-new", UserID: "u-alice", ClientID: "spa", CreatedAt: base}, base.Add(time.Second)); err != nil {
		t.Errorf("RedeemAuthCode(code-pending): %v", err)
	}
	_, err = dst.RedeemAuthCode(ctx, "code-redeemed", storage.Session{ID: "s-new2", UserID: "u-alice", ClientID: "spa", CreatedAt: base}, base.Add(time.Second))
	checkErr(t, "RedeemAuthCode(code-redeemed)", err, storage.ErrSpent)
	_, err = dst.ConsumeOneTimeToken(ctx, "ott-reset-old", storage.PurposeReset, base.Add(2*time.Minute))
	checkErr(t, "ConsumeOneTimeToken(superseded)", err, storage.ErrNotFound)
	if _, _, err := dst.ResetPassword(ctx, "ott-reset", "new hash", base.Add(2*time.Minute)); err != nil {
		t.Errorf("ResetPassword: %v", err)
	}
	if err := dst.CreateUser(ctx, storage.User{ID: "u-dave", Username: "dave", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	if u, _ := dst.GetUser(ctx, "u-dave"); u.PK != 10 { // alice 7, bob 8, carol 9
		t.Errorf("a user created after the copy got pk %d, want 10", u.PK)
	}

	// And back, from an untouched copy.
	dst2 := openTest(t)
	if _, err := storage.Copy(ctx, src, dst2, nil); err != nil {
		t.Fatal(err)
	}
	back := openSQLite(t)
	if _, err := storage.Copy(ctx, dst2, back, nil); err != nil {
		t.Fatalf("Copy back to SQLite: %v", err)
	}
	if got := dumpAll(t, back); !reflect.DeepEqual(got, want) {
		t.Errorf("the round trip changed rows:\ngot  %v\nwant %v", got, want)
	}
}

func mustSession(t *testing.T, s storage.Storage, id string) storage.Session {
	t.Helper()
	sess, err := s.GetSession(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSession(%q): %v", id, err)
	}
	return sess
}

// addLegacyFamily writes into the SQLite file what SQLite's upgrade from
// the previous token format leaves: a keyless family at generation 0 and
// its token in legacy_refresh_tokens. No storage call makes those.
func addLegacyFamily(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.ExecContext(t.Context(), `INSERT INTO sessions (id, user_id, client_id, created_at, expires_at, refresh_gen, refresh_hash, refresh_expires_at)
		VALUES ('s-legacy', 'u-alice', 'spa', ?1, ?2, 0, 'legacy-token-hash', ?2)`, base.UnixNano(), base.Add(time.Hour).UnixNano())
	if err == nil {
		_, err = db.ExecContext(t.Context(), `INSERT INTO legacy_refresh_tokens (hash, session_id) VALUES ('legacy-token-hash', 's-legacy')`)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestCopyRefusesNonEmpty: a destination with any row is refused, and
// left as it was.
func TestCopyRefusesNonEmpty(t *testing.T) {
	ctx := t.Context()
	src := openSQLite(t)
	populate(t, src)
	dst := openTest(t)
	if err := dst.RevokeJTI(ctx, "jti-already", base); err != nil {
		t.Fatal(err)
	}
	_, err := storage.Copy(ctx, src, dst, nil)
	checkErr(t, "Copy into a non-empty database", err, storage.ErrNotEmpty)
	if _, err := dst.GetUser(ctx, "u-alice"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUser after a refused copy: %v, want ErrNotFound", err)
	}
}

// TestCopyFailsWhole: a copy that fails partway writes nothing.
func TestCopyFailsWhole(t *testing.T) {
	ctx := t.Context()
	src := openSQLite(t)
	populate(t, src)
	dst := openTest(t)
	// A destination column the source lacks: the schemas differ.
	if _, err := dst.pool.Exec(ctx, `ALTER TABLE keys ADD COLUMN extra text`); err != nil {
		t.Fatal(err)
	}
	_, err := storage.Copy(ctx, src, dst, nil)
	if err == nil || !strings.Contains(err.Error(), "schemas differ") {
		t.Fatalf("Copy between different schemas = %v, want a refusal", err)
	}
	// A failure after some tables are written: a key that breaks the
	// destination's CHECK on state.
	if _, err := dst.pool.Exec(ctx, `ALTER TABLE keys DROP COLUMN extra`); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.pool.Exec(ctx, `ALTER TABLE keys ADD CONSTRAINT no_rsa CHECK (algorithm <> 'RS256')`); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Copy(ctx, src, dst, nil); err == nil {
		t.Fatal("Copy of a row the destination refuses: no error")
	}
	for _, table := range dataTables {
		var n int
		if err := dst.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s holds %d rows (%v) after a failed copy, want 0", table, n, err)
		}
	}
}

// TestDataTables: dataTables names every table of the schema but the
// bookkeeping ones, so Dump misses none.
func TestDataTables(t *testing.T) {
	db := openTest(t)
	rows, err := db.pool.Query(t.Context(), `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name NOT IN ('schema_migrations', 'health', 'limit_failures', 'limit_windows') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if want := slices.Sorted(slices.Values(dataTables)); !slices.Equal(got, want) {
		t.Errorf("tables of the schema = %v, dataTables = %v", got, want)
	}
}
