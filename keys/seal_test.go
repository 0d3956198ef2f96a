package keys_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 32)
)

// edit rewrites the stored key set with fn (as someone with write access to
// the database file could).
func edit(t *testing.T, db storage.KeyStore, fn func([]storage.Key) []storage.Key) {
	t.Helper()
	err := db.UpdateKeys(context.Background(), func(cur []storage.Key) ([]storage.Key, error) { return fn(cur), nil })
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
}

func TestSealedAtRest(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	opts := baseOptions(newClock())
	opts.Algorithm = keys.RS256
	opts.EncryptionKey = key1
	m := newManager(t, db, opts)
	rows, err := db.ListKeys(ctx)
	if err != nil || len(rows) != 2 {
		t.Fatalf("ListKeys = %d keys, %v; want 2", len(rows), err)
	}
	for _, r := range rows {
		if r.Private[0] != 0x02 {
			t.Errorf("key %s: format byte %#x, want 0x02 (sealed)", r.ID, r.Private[0])
		}
		if _, err := x509.ParsePKCS8PrivateKey(r.Private[1:]); err == nil {
			t.Errorf("key %s: stored private key parses as plain PKCS#8", r.ID)
		}
	}
	tok, err := m.Sign(keys.TypeAccessToken, newAccessClaims(t0, time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	open := func(encKey []byte) error {
		o := opts
		o.EncryptionKey = encKey
		_, err := keys.NewManager(ctx, db, o)
		return err
	}
	if err := open(key2); !errors.Is(err, keys.ErrEncryptionKey) || !strings.Contains(err.Error(), rows[0].ID) && !strings.Contains(err.Error(), rows[1].ID) {
		t.Errorf("NewManager with the wrong key = %v, want ErrEncryptionKey naming the kid", err)
	}
	if err := open(nil); !errors.Is(err, keys.ErrEncryptionKey) {
		t.Errorf("NewManager without a key = %v, want ErrEncryptionKey", err)
	}
	if err := open([]byte("short")); err == nil {
		t.Errorf("NewManager with a 5-byte key succeeded")
	}

	// Reseal: to key2, twice (the second changes nothing), then to none.
	if n, err := keys.Reseal(ctx, db, key1, key2); n != 2 || err != nil {
		t.Fatalf("Reseal(key1→key2) = %d, %v; want 2, nil", n, err)
	}
	if n, err := keys.Reseal(ctx, db, key1, key2); n != 0 || err != nil {
		t.Errorf("Reseal(key1→key2) again = %d, %v; want 0, nil", n, err)
	}
	if err := open(key1); !errors.Is(err, keys.ErrEncryptionKey) {
		t.Errorf("NewManager with the old key after Reseal = %v, want ErrEncryptionKey", err)
	}
	// The process still holding key1 must not add a key sealed under it.
	before := listKeys(t, db)
	if _, err := m.Rotate(ctx, ""); !errors.Is(err, keys.ErrEncryptionKey) {
		t.Errorf("Rotate by a process with the old key = %v, want ErrEncryptionKey", err)
	}
	if after := listKeys(t, db); len(after[storage.KeyNext]) != len(before[storage.KeyNext]) || after[storage.KeyActive][0].ID != before[storage.KeyActive][0].ID {
		t.Errorf("failed Rotate changed the key set")
	}
	if err := open(key2); err != nil {
		t.Errorf("NewManager with the new key = %v", err)
	}
	if n, err := keys.Reseal(ctx, db, key1, nil); !errors.Is(err, keys.ErrEncryptionKey) || n != 0 {
		t.Errorf("Reseal with a wrong old key = %d, %v; want ErrEncryptionKey", n, err)
	}
	if n, err := keys.Reseal(ctx, db, key2, nil); n != 2 || err != nil {
		t.Fatalf("Reseal(key2→none) = %d, %v", n, err)
	}
	for _, r := range listKeys(t, db)[storage.KeyActive] {
		if r.Private[0] != 0x01 {
			t.Errorf("after Reseal to none, format byte %#x, want 0x01", r.Private[0])
		}
	}
	// Unsealed rows are refused once a key is configured: sealing is also
	// what keeps a planted key out.
	if err := open(key1); !errors.Is(err, keys.ErrEncryptionKey) {
		t.Errorf("NewManager with a key over unsealed rows = %v, want ErrEncryptionKey", err)
	}
	o := opts
	o.EncryptionKey = nil
	m2 := newManager(t, db, o)
	// Kids, states and times survive; tokens signed before verify after.
	if err := m2.Verify(tok, wantAccess(t0), nil); err != nil {
		t.Errorf("token signed before the reseals: %v", err)
	}
	if n, err := keys.Reseal(ctx, db, nil, key1); n != 2 || err != nil {
		t.Errorf("Reseal(none→key1) = %d, %v", n, err)
	}
	if err := open(key1); err != nil {
		t.Errorf("NewManager after Reseal(none→key1) = %v", err)
	}
}

// TestTamperedRows: every way a row can be altered fails NewManager.
func TestTamperedRows(t *testing.T) {
	for _, tc := range []struct {
		name   string
		encKey []byte
		mod    func(rows []storage.Key) // rows[0] is active RSA, rows[1] next Ed25519, rows[2] retired Ed25519
		err    error
	}{
		{"flipped ciphertext bit", key1, func(r []storage.Key) { r[0].Private[40] ^= 1 }, keys.ErrEncryptionKey},
		{"flipped nonce bit", key1, func(r []storage.Key) { r[1].Private[3] ^= 1 }, keys.ErrEncryptionKey},
		{"truncated", key1, func(r []storage.Key) { r[1].Private = r[1].Private[:20] }, keys.ErrEncryptionKey},
		{"sealed blob moved to another kid", key1, func(r []storage.Key) { r[1].Private, r[2].Private = r[2].Private, r[1].Private }, keys.ErrEncryptionKey},
		{"unsealed private key swapped", nil, func(r []storage.Key) { r[1].Private, r[2].Private = r[2].Private, r[1].Private }, keys.ErrBadKey},
		{"public JWK of another key", key1, func(r []storage.Key) { r[1].Public = r[2].Public }, keys.ErrBadKey},
		{"public JWK with alg changed", nil, func(r []storage.Key) {
			r[0].Public = bytes.Replace(r[0].Public, []byte(`"RS256"`), []byte(`"RS512"`), 1)
		}, keys.ErrBadKey},
		{"algorithm column changed", key1, func(r []storage.Key) { r[0].Algorithm = keys.EdDSA }, keys.ErrBadKey},
		{"algorithm column HS256", nil, func(r []storage.Key) { r[1].Algorithm = "HS256" }, keys.ErrBadKey},
		{"kid changed", nil, func(r []storage.Key) { r[2].ID = "other" }, keys.ErrBadKey},
		{"unknown format byte", nil, func(r []storage.Key) { r[1].Private[0] = 9 }, keys.ErrBadKey},
		{"empty private key", nil, func(r []storage.Key) { r[1].Private = nil }, keys.ErrBadKey},
		{"garbage DER", nil, func(r []storage.Key) { r[1].Private = []byte{1, 0x30, 0x03, 1, 2, 3} }, keys.ErrBadKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := newDB(t)
			opts := baseOptions(newClock())
			opts.EncryptionKey = tc.encKey
			plantKeys(t, db, tc.encKey,
				plant{"rsa2048.pem", keys.RS256, storage.KeyActive},
				plant{"ed25519.pem", keys.EdDSA, storage.KeyNext},
				plant{"ed25519-b.pem", keys.EdDSA, storage.KeyRetired})
			if _, err := keys.NewManager(context.Background(), db, opts); err != nil {
				t.Fatalf("NewManager before tampering: %v", err)
			}
			edit(t, db, func(cur []storage.Key) []storage.Key {
				byState := map[storage.KeyState]storage.Key{}
				for _, k := range cur {
					byState[k.State] = k
				}
				rows := []storage.Key{byState[storage.KeyActive], byState[storage.KeyNext], byState[storage.KeyRetired]}
				tc.mod(rows)
				return rows
			})
			_, err := keys.NewManager(context.Background(), db, opts)
			if !errors.Is(err, tc.err) {
				t.Errorf("NewManager after tampering = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestUnsealedWarning(t *testing.T) {
	for _, tc := range []struct {
		encKey []byte
		warns  int
	}{{nil, 1}, {key1, 0}} {
		db, _ := newDB(t)
		logs := &logBuffer{}
		opts := baseOptions(newClock())
		opts.EncryptionKey = tc.encKey
		opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
		m := newManager(t, db, opts)
		m.Tick(context.Background())
		if _, err := m.Rotate(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
		if got := logs.count("level=WARN"); got != tc.warns {
			t.Errorf("encryption key %v: %d warnings, want %d; log:\n%s", tc.encKey != nil, got, tc.warns, logs)
		}
		if tc.warns > 0 && !strings.Contains(logs.String(), "UNSEALED") {
			t.Errorf("warning does not say keys are unsealed:\n%s", logs)
		}
	}
}

// TestReloadFailureKeepsKeys: a row that stops opening after start-up is
// logged, and the server keeps signing with the set it has.
func TestReloadFailureKeepsKeys(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	logs := &logBuffer{}
	clk := newClock()
	opts := baseOptions(clk)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	m := newManager(t, db, opts)
	kid, _, _ := m.Active()
	edit(t, db, func(cur []storage.Key) []storage.Key {
		for i := range cur {
			if cur[i].State == storage.KeyNext {
				cur[i].Private[len(cur[i].Private)-1] ^= 1
			}
		}
		return cur
	})
	if err := m.Reload(ctx); !errors.Is(err, keys.ErrEncryptionKey) {
		t.Errorf("Reload over a tampered row = %v, want ErrEncryptionKey", err)
	}
	clk.Advance(2 * time.Hour) // rotation due, but the set cannot be trusted
	m.Tick(ctx)
	if !strings.Contains(logs.String(), "reload failed") {
		t.Errorf("failed reload not logged:\n%s", logs)
	}
	if got, _, ok := m.Active(); got != kid || !ok {
		t.Errorf("Active() = %q after failed reload, want %q", got, kid)
	}
	if _, err := m.Sign(keys.TypeAccessToken, newAccessClaims(clk.Now(), time.Minute)); err != nil {
		t.Errorf("Sign after failed reload: %v", err)
	}
	if a := listKeys(t, db)[storage.KeyActive]; len(a) != 1 || a[0].ID != kid {
		t.Errorf("a rotation happened over a tampered set")
	}
}
