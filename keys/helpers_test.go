package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
)

const issuer = "https://auth.example.test"

// t0 is the fake clock's start.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// openDB opens (creating and migrating) the SQLite database at path.
func openDB(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func newDB(t testing.TB) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authd.db")
	return openDB(t, path), path
}

// logBuffer collects log output for assertions and echoes nothing.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

// baseOptions are the options of most tests: 1h rotation, 10s reload, 5m
// JWKS max-age, 15m tokens, 1m skew, on clk.
func baseOptions(clk *clock) keys.Options {
	return keys.Options{
		Algorithm:      keys.EdDSA, // fast to generate
		RotateEvery:    time.Hour,
		ReloadInterval: 10 * time.Second,
		JWKSMaxAge:     5 * time.Minute,
		EncryptionKey:  bytes.Repeat([]byte{7}, 32),
		MaxTokenTTL:    15 * time.Minute,
		Skew:           time.Minute,
		Now:            clk.Now,
		Logger:         slog.New(slog.NewTextHandler(&logBuffer{}, nil)),
	}
}

func newManager(t testing.TB, db storage.KeyStore, opts keys.Options) *keys.Manager {
	t.Helper()
	m, err := keys.NewManager(context.Background(), db, opts)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}

// loadKey reads a PKCS#8 PEM from testdata.
func loadKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return k.(crypto.Signer)
}

// plant is one fixed key to put in the store.
type plant struct {
	file  string
	alg   string
	state storage.KeyState
}

// plantKeys replaces the store's key set with the fixed keys, created at t0
// (active ones activated at t0, retired ones retired at t0 and removed at
// t0+24h), and returns their kids in order.
func plantKeys(t testing.TB, db storage.KeyStore, encKey []byte, ps ...plant) []string {
	t.Helper()
	var rows []storage.Key
	var kids []string
	for _, p := range ps {
		row, err := keys.NewStoredKey(loadKey(t, p.file), p.alg, p.state, t0, encKey)
		if err != nil {
			t.Fatalf("NewStoredKey(%s): %v", p.file, err)
		}
		switch p.state {
		case storage.KeyActive:
			row.ActivatedAt = t0
		case storage.KeyRetired:
			row.ActivatedAt = t0.Add(-time.Hour)
			row.RetiredAt = t0
			row.RemoveAt = t0.Add(24 * time.Hour)
		}
		rows = append(rows, row)
		kids = append(kids, row.ID)
	}
	err := db.UpdateKeys(context.Background(), func([]storage.Key) ([]storage.Key, error) { return rows, nil })
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	return kids
}

// listKeys returns the stored keys by state.
func listKeys(t testing.TB, db storage.KeyStore) map[storage.KeyState][]storage.Key {
	t.Helper()
	rows, err := db.ListKeys(context.Background())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	out := map[storage.KeyState][]storage.Key{}
	for _, r := range rows {
		out[r.State] = append(out[r.State], r)
	}
	return out
}

// accessClaims is what an access token carries (RFC 9068 §2.2).
type accessClaims struct {
	keys.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	SID      string `json:"sid"`
}

func newAccessClaims(now time.Time, ttl time.Duration) accessClaims {
	return accessClaims{
		Claims: keys.Claims{
			Issuer: issuer, Subject: "u-123", Audience: keys.Audience{"api", "other"},
			IssuedAt: keys.NewNumericDate(now), Expiry: keys.NewNumericDate(now.Add(ttl)), ID: "jti-1",
		},
		ClientID: "demo-spa", Scope: "openid api", SID: "s-1",
	}
}

func wantAccess(now time.Time) keys.Expected {
	return keys.Expected{Type: keys.TypeAccessToken, Issuer: issuer, Audience: "api", Now: now}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
