package sqlite

import (
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/authd/authd/refresh"
	"github.com/authd/authd/storage"
)

// previousRelease writes a database as the release before refresh families
// did: migrations 0001 and 0002 only, applied by a plain connection (no
// auto-vacuum), then rows inserted with the statements that release ran.
type previousRelease struct {
	t   *testing.T
	db  *sql.DB
	now time.Time
}

func newPreviousRelease(t *testing.T, path string) *previousRelease {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, map[string][]string{
		"_pragma": {"busy_timeout(10000)", "foreign_keys(1)", "journal_mode(WAL)", "synchronous(OFF)"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	p := &previousRelease{t: t, db: db, now: time.Now().UTC().Truncate(time.Second)}
	p.exec(createSchemaMigrations)
	for _, name := range []string{"0001_init.sql", "0002_auth_codes.sql"} {
		b, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		p.exec(string(b))
	}
	p.exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (1, ?), (2, ?)`, p.now.UnixNano(), p.now.UnixNano())
	return p
}

func (p *previousRelease) exec(q string, args ...any) {
	p.t.Helper()
	if _, err := p.db.Exec(q, args...); err != nil {
		p.t.Fatalf("%s: %v", q, err)
	}
}

// legacyToken is a refresh token as the previous release made them, and the
// hash it stored for it.
func legacyToken() (tok, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(tok))
	return tok, hex.EncodeToString(sum[:])
}

// login stores a session with its first refresh token, as the previous
// release's CreateSession did, and returns the token.
func (p *previousRelease) login(sid, userID string, at time.Time, idle time.Duration) string {
	p.t.Helper()
	p.exec(`INSERT INTO sessions (id, user_id, client_id, scope, auth_time, created_at, last_used_at, expires_at, ended_at, user_agent, address)
		VALUES (?, ?, 'spa', 'openid offline_access', ?, ?, ?, ?, NULL, 'old/1.0', '192.0.2.7')`,
		sid, userID, at.UnixNano(), at.UnixNano(), at.UnixNano(), at.Add(90*24*time.Hour).UnixNano())
	tok, hash := legacyToken()
	p.exec(`INSERT INTO refresh_tokens (hash, session_id, client_id, user_id, scope, created_at, expires_at, spent_at, replay, replay_until)
		VALUES (?, ?, 'spa', ?, 'openid offline_access', ?, ?, NULL, NULL, NULL)`,
		hash, sid, userID, at.UnixNano(), at.Add(idle).UnixNano())
	return tok
}

// rotate spends tok and stores its successor, with a replay, as the
// previous release's RotateRefreshToken did, and returns the successor.
func (p *previousRelease) rotate(sid, userID, tok string, at time.Time) string {
	p.t.Helper()
	sum := sha256.Sum256([]byte(tok))
	p.exec(`UPDATE refresh_tokens SET spent_at = ?, replay = ?, replay_until = ? WHERE hash = ? AND spent_at IS NULL`,
		at.UnixNano(), []byte("sealed"), at.Add(5*time.Second).UnixNano(), hex.EncodeToString(sum[:]))
	next, hash := legacyToken()
	p.exec(`INSERT INTO refresh_tokens (hash, session_id, client_id, user_id, scope, created_at, expires_at, spent_at, replay, replay_until)
		VALUES (?, ?, 'spa', ?, 'openid offline_access', ?, ?, NULL, NULL, NULL)`,
		hash, sid, userID, at.UnixNano(), at.Add(14*24*time.Hour).UnixNano())
	p.exec(`UPDATE sessions SET last_used_at = ? WHERE id = ?`, at.UnixNano(), sid)
	return next
}

func hashOf(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// TestUpgradeLiveFamilies: a database of the previous release with families
// in the middle of their chains keeps refreshing after Migrate. The newest
// live token of each live family becomes generation 0 of its family, found
// by LegacyRefreshSession; its first rotation gives the family a key and
// retires the legacy token; spent, expired and ended-session tokens are
// gone; the database ends up with incremental auto-vacuum.
func TestUpgradeLiveFamilies(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "authd.db")
	old := newPreviousRelease(t, path)
	now := old.now
	old.exec(`INSERT INTO users (id, username, username_key, email, email_key, email_verified, password_hash, first_name, last_name, disabled, created_at, updated_at)
		VALUES ('u1', 'alice', 'alice', NULL, NULL, 0, '$argon2id$x', '', '', 0, ?, ?)`, now.UnixNano(), now.UnixNano())

	// s-chain: a family three rotations deep, its newest token live.
	t0 := old.login("s-chain", "u1", now.Add(-time.Hour), 14*24*time.Hour)
	t1 := old.rotate("s-chain", "u1", t0, now.Add(-50*time.Minute))
	t2 := old.rotate("s-chain", "u1", t1, now.Add(-40*time.Minute))
	t3 := old.rotate("s-chain", "u1", t2, now.Add(-30*time.Minute))
	// s-fresh: a family that never rotated.
	f0 := old.login("s-fresh", "u1", now.Add(-time.Minute), 14*24*time.Hour)
	// s-idle: its only token is past its idle lifetime.
	i0 := old.login("s-idle", "u1", now.Add(-2*time.Hour), time.Hour)
	// s-ended: ended, as the previous release ended sessions (tokens
	// deleted); one token is left behind to see it is not migrated.
	e0 := old.login("s-ended", "u1", now.Add(-time.Hour), 14*24*time.Hour)
	old.exec(`UPDATE sessions SET ended_at = ? WHERE id = 's-ended'`, now.Add(-time.Minute).UnixNano())
	// s-bare: a session without refresh tokens.
	old.exec(`INSERT INTO sessions (id, user_id, client_id, scope, auth_time, created_at, last_used_at, expires_at, ended_at, user_agent, address)
		VALUES ('s-bare', 'u1', 'spa', 'openid', ?, ?, ?, ?, NULL, '', '')`, now.UnixNano(), now.UnixNano(), now.UnixNano(), now.Add(time.Hour).UnixNano())
	// An authorization code of the previous release, not bound to a sign-in.
	old.exec(`INSERT INTO auth_codes (hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, code_challenge_method,
		auth_time, created_at, expires_at, redeemed_at, session_id)
		VALUES ('code-old', 'spa', 'u1', 'https://app.example.com/cb', 'openid', '', '', '', ?, ?, ?, NULL, NULL)`,
		now.UnixNano(), now.UnixNano(), now.Add(time.Minute).UnixNano())
	var autoVacuum int
	if err := old.db.QueryRow(`PRAGMA auto_vacuum`).Scan(&autoVacuum); err != nil || autoVacuum != 0 {
		t.Fatalf("previous release's auto_vacuum = %d, %v; want 0", autoVacuum, err)
	}
	if err := old.db.Close(); err != nil {
		t.Fatal(err)
	}

	db := openTest(t, path) // migrates
	if v, err := db.SchemaVersion(ctx); err != nil || v != db.latest() {
		t.Fatalf("SchemaVersion = %d, %v", v, err)
	}
	if err := db.w.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&autoVacuum); err != nil || autoVacuum != autoVacuumIncremental {
		t.Errorf("auto_vacuum after the upgrade = %d, %v; want %d (incremental)", autoVacuum, err, autoVacuumIncremental)
	}
	for _, check := range []string{`PRAGMA integrity_check`, `PRAGMA foreign_key_check`} {
		var got sql.NullString
		err := db.r.QueryRowContext(ctx, check).Scan(&got)
		if check == `PRAGMA integrity_check` && (err != nil || got.String != "ok") {
			t.Errorf("%s = %q, %v", check, got.String, err)
		}
		if check == `PRAGMA foreign_key_check` && !errors.Is(err, sql.ErrNoRows) {
			t.Errorf("%s found %q, %v", check, got.String, err)
		}
	}
	counts, err := db.RowCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := counts["refresh_tokens"]; ok {
		t.Errorf("refresh_tokens still exists: %v", counts)
	}
	if counts["legacy_refresh_tokens"] != 2 {
		t.Errorf("legacy_refresh_tokens holds %d rows, want 2 (the live token of each live family)", counts["legacy_refresh_tokens"])
	}

	// Only the live tokens of live families are found.
	for tok, want := range map[string]string{t3: "s-chain", f0: "s-fresh", t0: "", t1: "", t2: "", i0: "", e0: ""} {
		sid, err := db.LegacyRefreshSession(ctx, hashOf(tok))
		switch {
		case want != "" && (err != nil || sid != want):
			t.Errorf("LegacyRefreshSession of a live token = %q, %v; want %q", sid, err, want)
		case want == "" && !errors.Is(err, storage.ErrNotFound):
			t.Errorf("LegacyRefreshSession of a spent, expired or ended token = %q, %v; want ErrNotFound", sid, err)
		}
	}
	sess, u, err := db.GetSessionAndUser(ctx, "s-chain")
	if err != nil || u.ID != "u1" {
		t.Fatalf("GetSessionAndUser: %v", err)
	}
	wantFam := storage.RefreshFamily{Generation: 0, Hash: hashOf(t3), ExpiresAt: now.Add(-30 * time.Minute).Add(14 * 24 * time.Hour)}
	if f := sess.Refresh; f == nil || f.Generation != 0 || f.Hash != wantFam.Hash || f.Key != nil || !f.ExpiresAt.Equal(wantFam.ExpiresAt) || f.Replay != nil {
		t.Errorf("migrated family = %+v, want %+v", f, wantFam)
	}
	if !sess.LastUsedAt.Equal(now.Add(-30 * time.Minute)) {
		t.Errorf("LastUsedAt = %v, kept from before the upgrade: %v", sess.LastUsedAt, now.Add(-30*time.Minute))
	}
	for _, sid := range []string{"s-idle", "s-ended", "s-bare"} {
		if s, err := db.GetSession(ctx, sid); err != nil || s.Refresh != nil {
			t.Errorf("session %s: Refresh = %+v, %v; want none", sid, s.Refresh, err)
		}
	}
	c, err := db.GetAuthCode(ctx, "code-old")
	if err != nil || c.SignInSessionID != "" {
		t.Errorf("code of the previous release = %+v, %v; want it unbound", c, err)
	}

	// The first rotation mints v2 tokens under a new key and retires the
	// legacy token in the same transaction.
	key := refresh.NewFamilyKey()
	tok1, hash1 := refresh.Mint("s-chain", 1, key)
	err = db.RotateRefresh(ctx, "s-chain", 0, storage.RefreshRotation{Hash: hash1, ExpiresAt: now.Add(time.Hour)}, now)
	if err == nil || errors.Is(err, storage.ErrSpent) || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("rotating a keyless family without a key = %v, want a plain error", err)
	}
	if err := db.RotateRefresh(ctx, "s-chain", 0, storage.RefreshRotation{Hash: hash1, Key: key, ExpiresAt: now.Add(time.Hour)}, now); err != nil {
		t.Fatalf("first rotation of a migrated family: %v", err)
	}
	if _, err := db.LegacyRefreshSession(ctx, hashOf(t3)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("legacy token after its family rotated: %v, want ErrNotFound", err)
	}
	sess, _, err = db.GetSessionAndUser(ctx, "s-chain")
	if err != nil {
		t.Fatal(err)
	}
	p, err := refresh.Parse(tok1)
	if err != nil || sess.Refresh.Generation != 1 || !p.Genuine(sess.Refresh.Key) || p.Hash() != sess.Refresh.Hash {
		t.Fatalf("family after the first rotation = %+v; the new token does not check against it (%v)", sess.Refresh, err)
	}
	// Racing a second rotation from generation 0: spent.
	err = db.RotateRefresh(ctx, "s-chain", 0, storage.RefreshRotation{Hash: "x", Key: refresh.NewFamilyKey()}, now)
	checkErr(t, "second rotation from generation 0", err, storage.ErrSpent)
	// And on it goes, as any family.
	_, hash2 := refresh.Mint("s-chain", 2, key)
	if err := db.RotateRefresh(ctx, "s-chain", 1, storage.RefreshRotation{Hash: hash2, ExpiresAt: now.Add(time.Hour)}, now.Add(time.Second)); err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	// Ending the other migrated family drops its legacy token.
	if err := db.EndSession(ctx, "s-fresh", now); err != nil {
		t.Fatal(err)
	}
	if counts, err := db.RowCounts(ctx); err != nil || counts["legacy_refresh_tokens"] != 0 {
		t.Errorf("legacy tokens left after both families moved on: %v, %v", counts, err)
	}
}

// TestIncrementalVacuum: a new database has incremental auto-vacuum, and
// DeleteExpired gives the pages it frees back to the file system.
func TestIncrementalVacuum(t *testing.T) {
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "authd.db"))
	pragma := func(name string) int {
		t.Helper()
		var n int
		if err := db.w.QueryRowContext(ctx, "PRAGMA "+name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := pragma("auto_vacuum"); got != autoVacuumIncremental {
		t.Fatalf("auto_vacuum of a new database = %d, want %d", got, autoVacuumIncremental)
	}
	now := time.Unix(1_700_000_000, 0).UTC()
	if err := db.CreateUser(ctx, storage.User{ID: "u", Username: "u", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	err := db.write(ctx, func(tx *sql.Tx) error {
		for i := range n {
			s := storage.Session{ID: fmt.Sprintf("s-%05d", i), UserID: "u", ClientID: "c", CreatedAt: now,
				UserAgent: string(make([]byte, 1000)), ExpiresAt: now.Add(time.Minute),
				Refresh: &storage.RefreshFamily{Generation: 1, Hash: fmt.Sprint(i), Key: make([]byte, 32), ExpiresAt: now.Add(time.Minute)}}
			if err := insertSession(ctx, tx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	full := pragma("page_count")
	total := 0
	for {
		k, err := db.DeleteExpired(ctx, now.Add(time.Hour), 1000)
		if err != nil {
			t.Fatal(err)
		}
		total += k
		if k < 1000 {
			break
		}
	}
	if total != n {
		t.Errorf("DeleteExpired deleted %d, want %d", total, n)
	}
	after, free := pragma("page_count"), pragma("freelist_count")
	t.Logf("pages: %d with %d sessions, %d after deleting them (%d free)", full, n, after, free)
	if free != 0 || after > full/10 {
		t.Errorf("after deleting every session: %d pages (%d free), from %d; want the free pages returned", after, free, full)
	}
}
