package keys_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// benchKeys are the algorithms and key sizes benchmarked, from the fixed
// keys in testdata.
var benchKeys = []struct{ name, file, alg string }{
	{"RS256-2048", "rsa2048.pem", keys.RS256},
	{"RS256-3072", "rsa3072.pem", keys.RS256},
	{"EdDSA", "ed25519.pem", keys.EdDSA},
}

func benchManager(b *testing.B, file, alg string) *keys.Manager {
	db, _ := newDB(b)
	opts := baseOptions(newClock())
	plantKeys(b, db, opts.EncryptionKey,
		plant{file, alg, storage.KeyActive},
		plant{"ed25519-b.pem", keys.EdDSA, storage.KeyNext})
	return newManager(b, db, opts)
}

func BenchmarkSign(b *testing.B) {
	for _, bk := range benchKeys {
		b.Run(bk.name, func(b *testing.B) {
			m := benchManager(b, bk.file, bk.alg)
			claims := newAccessClaims(t0, 15*time.Minute)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Sign(keys.TypeAccessToken, claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, bk := range benchKeys {
		b.Run(bk.name, func(b *testing.B) {
			m := benchManager(b, bk.file, bk.alg)
			tok, err := m.Sign(keys.TypeAccessToken, newAccessClaims(t0, 15*time.Minute))
			if err != nil {
				b.Fatal(err)
			}
			want := wantAccess(t0)
			b.ReportAllocs()
			for b.Loop() {
				var c accessClaims
				if err := m.Verify(tok, want, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEd25519Sign is the floor for BenchmarkSign/EdDSA: the bare
// signature over an access token's signing input.
func BenchmarkEd25519Sign(b *testing.B) {
	priv := loadKey(b, "ed25519.pem").(ed25519.PrivateKey)
	m := benchManager(b, "ed25519.pem", keys.EdDSA)
	tok, _ := m.Sign(keys.TypeAccessToken, newAccessClaims(t0, 15*time.Minute))
	input := []byte(tok[:strings.LastIndexByte(tok, '.')])
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(priv, input)
	}
}

// BenchmarkVerifyOversized: refusing a megabyte of dots.
func BenchmarkVerifyOversized(b *testing.B) {
	m := benchManager(b, "ed25519.pem", keys.EdDSA)
	dots := strings.Repeat(".", 1<<20)
	want := wantAccess(t0)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Verify(dots, want, nil); err == nil {
			b.Fatal("accepted")
		}
	}
}
