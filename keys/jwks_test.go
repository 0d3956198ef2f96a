package keys_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n got: %s\nwant: %s", path, got, want)
	}
}

// goldenKeys plants the fixed keys: active RSA-2048, next Ed25519, retired
// Ed25519 (still published).
func goldenKeys(t *testing.T, db storage.KeyStore, encKey []byte) []string {
	return plantKeys(t, db, encKey,
		plant{"ed25519-b.pem", keys.EdDSA, storage.KeyRetired},
		plant{"ed25519.pem", keys.EdDSA, storage.KeyNext},
		plant{"rsa2048.pem", keys.RS256, storage.KeyActive})
}

func TestJWKSGolden(t *testing.T) {
	db, _ := newDB(t)
	opts := baseOptions(newClock())
	goldenKeys(t, db, opts.EncryptionKey)
	m := newManager(t, db, opts)
	body, etag := m.JWKS()
	golden(t, "jwks.golden", body)
	golden(t, "jwks.etag.golden", []byte(etag))
}

func TestJWKSPublicOnly(t *testing.T) {
	db, _ := newDB(t)
	opts := baseOptions(newClock())
	kids := goldenKeys(t, db, opts.EncryptionKey)
	m := newManager(t, db, opts)
	body, _ := m.JWKS()

	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v", err)
	}
	if len(set.Keys) != 3 {
		t.Fatalf("JWKS has %d keys, want 3 (active, next, retired)", len(set.Keys))
	}
	// Active first (naive clients take the first key), then next, then retired.
	for i, want := range []string{kids[2], kids[1], kids[0]} {
		if got := set.Keys[i]["kid"]; got != want {
			t.Errorf("keys[%d].kid = %v, want %v", i, got, want)
		}
	}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %v has private member %q", k["kid"], private)
			}
		}
		if k["use"] != "sig" {
			t.Errorf("key %v: use = %v, want sig", k["kid"], k["use"])
		}
		if k["alg"] != keys.RS256 && k["alg"] != keys.EdDSA {
			t.Errorf("key %v: alg = %v", k["kid"], k["alg"])
		}
	}

	// go-jose reads the set, every key is public, and each kid is the RFC
	// 7638 thumbprint as go-jose computes it.
	var js jose.JSONWebKeySet
	if err := json.Unmarshal(body, &js); err != nil {
		t.Fatalf("go-jose cannot read the JWKS: %v", err)
	}
	for _, k := range js.Keys {
		if !k.Valid() || !k.IsPublic() {
			t.Errorf("key %s: valid %v, public %v", k.KeyID, k.Valid(), k.IsPublic())
		}
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if got := base64.RawURLEncoding.EncodeToString(tp); got != k.KeyID {
			t.Errorf("kid %s, but the RFC 7638 thumbprint is %s", k.KeyID, got)
		}
	}
	if got, want := m.Algorithms(), []string{keys.RS256, keys.EdDSA}; !equal(got, want) {
		t.Errorf("Algorithms() = %v, want %v", got, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestJWKSETag(t *testing.T) {
	ctx := context.Background()
	db, path := newDB(t)
	clk := newClock()
	opts := baseOptions(clk)
	goldenKeys(t, db, opts.EncryptionKey)
	m1 := newManager(t, db, opts)
	m2 := newManager(t, openDB(t, path), opts)

	body1, etag1 := m1.JWKS()
	body2, etag2 := m2.JWKS()
	if string(body1) != string(body2) || etag1 != etag2 {
		t.Errorf("two processes serve different JWKS/ETag: %s %s", etag1, etag2)
	}
	if !regexp.MustCompile(`^"[A-Za-z0-9_-]{43}"$`).MatchString(etag1) {
		t.Errorf("ETag %s is not a quoted strong tag", etag1)
	}
	// A reload with nothing changed keeps the very same bytes.
	if err := m1.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	body3, etag3 := m1.JWKS()
	if &body3[0] != &body1[0] || etag3 != etag1 {
		t.Errorf("JWKS rebuilt though nothing changed")
	}
	// A rotation changes them, in both processes.
	if _, err := m1.Rotate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	_, etag4 := m1.JWKS()
	if etag4 == etag1 {
		t.Errorf("ETag unchanged after rotation")
	}
	clk.Advance(opts.ReloadInterval)
	m2.Tick(ctx)
	if _, etag5 := m2.JWKS(); etag5 != etag4 {
		t.Errorf("other process ETag %s after reload, want %s", etag5, etag4)
	}
}
