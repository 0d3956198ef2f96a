package refresh

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
)

const sid = "AbCdEfGhIjKlMnOpQrStUv" // a session id as authd makes them: 16 random bytes

func TestMintParse(t *testing.T) {
	key := NewFamilyKey()
	if len(key) != KeySize {
		t.Fatalf("NewFamilyKey: %d bytes", len(key))
	}
	for _, gen := range []uint64{0, 1, 2, 999, math.MaxUint64} {
		tok, hash := Mint(sid, gen, key)
		if !strings.HasPrefix(tok, Prefix) || len(tok) > MaxLength {
			t.Fatalf("Mint = %q (%d chars), want the prefix and at most %d chars", tok, len(tok), MaxLength)
		}
		p, err := Parse(tok)
		if err != nil {
			t.Fatalf("Parse(Mint(gen %d)): %v", gen, err)
		}
		if p.FamilyID != sid || p.Generation != gen {
			t.Errorf("Parse = family %q gen %d, want %q %d", p.FamilyID, p.Generation, sid, gen)
		}
		if p.Hash() != hash {
			t.Errorf("Hash() = %s, want Mint's %s", p.Hash(), hash)
		}
		if !p.Genuine(key) {
			t.Errorf("a minted token is not genuine under its key")
		}
		if p.Genuine(NewFamilyKey()) {
			t.Errorf("a token is genuine under another family's key")
		}
		if p.Genuine(key[:KeySize-1]) || p.Genuine(nil) {
			t.Errorf("a token is genuine under a truncated or missing key")
		}
	}
	// 22-character session ids make 117-character tokens.
	if tok, _ := Mint(sid, 1, key); len(tok) != 117 {
		t.Errorf("token of a 22-character family id: %d chars, want 117", len(tok))
	}
	long := strings.Repeat("x", MaxFamilyID)
	tok, _ := Mint(long, 7, key)
	if len(tok) != MaxLength {
		t.Errorf("longest token: %d chars, MaxLength %d", len(tok), MaxLength)
	}
	if p, err := Parse(tok); err != nil || p.FamilyID != long || !p.Genuine(key) {
		t.Errorf("Parse of the longest token: %+v, %v", p, err)
	}
}

// The hash is SHA-256 of the random part only, never of anything the
// database could reconstruct from what it holds.
func TestHashIsOfRandomPart(t *testing.T) {
	key := NewFamilyKey()
	tok, hash := Mint(sid, 5, key)
	b, err := base64.RawURLEncoding.DecodeString(tok[len(Prefix):])
	if err != nil {
		t.Fatal(err)
	}
	r := b[2+len(sid)+genSize : 2+len(sid)+genSize+rSize]
	sum := sha256.Sum256(r)
	if hex.EncodeToString(sum[:]) != hash {
		t.Errorf("hash is not SHA-256 of r")
	}
	// Two tokens of the same generation differ (fresh r each time).
	tok2, hash2 := Mint(sid, 5, key)
	if tok2 == tok || hash2 == hash {
		t.Errorf("two mints of one generation are equal")
	}
}

// Changing any byte of the payload (family, generation, r) or of the tag
// leaves a token that is not genuine.
func TestTamperedNotGenuine(t *testing.T) {
	key := NewFamilyKey()
	tok, _ := Mint(sid, 42, key)
	b, _ := base64.RawURLEncoding.DecodeString(tok[len(Prefix):])
	for i := 2; i < len(b); i++ {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		p, err := Parse(Prefix + base64.RawURLEncoding.EncodeToString(c))
		if err != nil {
			continue // a family id byte that left the alphabet
		}
		if p.Genuine(key) {
			t.Errorf("byte %d flipped: still genuine", i)
		}
	}
}

func TestParseRejects(t *testing.T) {
	key := NewFamilyKey()
	tok, _ := Mint(sid, 3, key)
	body := tok[len(Prefix):]
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	enc := func(b []byte) string { return Prefix + base64.RawURLEncoding.EncodeToString(b) }
	with := func(f func(b []byte) []byte) string { return enc(f(bytes.Clone(raw))) }
	// A final character with non-zero unused bits decodes, leniently, to the
	// same bytes: the strict parser must refuse it. (A canonical encoding
	// has those bits zero, so setting the lowest one changes the character.)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(body)*6%8 == 0 {
		t.Fatalf("a body of %d chars has no unused bits", len(body))
	}
	noncanonical := tok[:len(tok)-1] + string(alphabet[strings.IndexByte(alphabet, body[len(body)-1])|1])
	if _, err := base64.RawURLEncoding.DecodeString(noncanonical[len(Prefix):]); err != nil {
		t.Fatalf("the lenient decoder refuses the non-canonical spelling: %v", err)
	}
	cases := map[string]string{
		"empty":               "",
		"prefix only":         Prefix,
		"no prefix":           body,
		"other prefix":        "authd_rt3_" + body,
		"upper-case prefix":   strings.ToUpper(Prefix) + body,
		"padding":             tok + "=",
		"std alphabet":        strings.NewReplacer("-", "+", "_", "/").Replace(tok),
		"line break":          tok[:50] + "\n" + tok[50:],
		"carriage return":     tok[:50] + "\r" + tok[50:],
		"space":               tok + " ",
		"truncated":           tok[:len(tok)-1],
		"one char more":       tok + "A",
		"bytes appended":      with(func(b []byte) []byte { return append(b, 0) }),
		"bytes cut":           with(func(b []byte) []byte { return b[:len(b)-1] }),
		"version 1":           with(func(b []byte) []byte { b[0] = 1; return b }),
		"version 3":           with(func(b []byte) []byte { b[0] = 3; return b }),
		"family length 0":     with(func(b []byte) []byte { b[1] = 0; return b }),
		"family length +1":    with(func(b []byte) []byte { b[1]++; return b }),
		"family length 255":   with(func(b []byte) []byte { b[1] = 255; return b }),
		"family id not b64":   with(func(b []byte) []byte { b[2] = '.'; return b }),
		"family id NUL":       with(func(b []byte) []byte { b[3] = 0; return b }),
		"legacy":              base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
		"JWS-looking":         "a.b.c",
		"far too long":        Prefix + strings.Repeat("A", 10_000),
		"non-canonical final": noncanonical,
	}
	for name, s := range cases {
		if _, err := Parse(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse(%q) = %v, want ErrMalformed", name, s, err)
		}
	}
}

func TestLegacy(t *testing.T) {
	legacy := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))
	if !Legacy(legacy) {
		t.Errorf("Legacy(%q) = false", legacy)
	}
	tok, _ := Mint(sid, 1, NewFamilyKey())
	for _, s := range []string{"", tok, legacy + "A", legacy[:42], legacy[:42] + "=", legacy[:42] + ".", legacy[:42] + "B"} {
		if Legacy(s) {
			t.Errorf("Legacy(%q) = true", s)
		}
	}
}

func TestMintPanicsOnBadInput(t *testing.T) {
	key := NewFamilyKey()
	for name, f := range map[string]func(){
		"empty family":     func() { Mint("", 1, key) },
		"long family":      func() { Mint(strings.Repeat("a", MaxFamilyID+1), 1, key) },
		"family with dots": func() { Mint("a.b", 1, key) },
		"short key":        func() { Mint(sid, 1, key[:16]) },
		"no key":           func() { Mint(sid, 1, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Mint did not panic", name)
				}
			}()
			f()
		}()
	}
}

// FuzzParse: Parse never panics; what it accepts is the one spelling of
// its bytes (re-encoding gives the input back) and at most MaxLength long;
// a token is never genuine under a key it was not minted with, and minting
// the parsed family and generation under the fuzz key yields a genuine token
// that parses to the same fields.
func FuzzParse(f *testing.F) {
	key := bytes.Repeat([]byte{7}, KeySize)
	for _, gen := range []uint64{0, 1, 1000, math.MaxUint64} {
		tok, _ := Mint(sid, gen, key)
		f.Add(tok)
		f.Add(tok[:len(tok)-1])
		f.Add(tok + "A")
		f.Add(tok[:40] + "\n" + tok[40:])
	}
	tok, _ := Mint(strings.Repeat("z", MaxFamilyID), 9, key)
	f.Add(tok)
	f.Add("")
	f.Add(Prefix)
	f.Add(Prefix + "AgE")
	f.Add(base64.RawURLEncoding.EncodeToString(make([]byte, 32)))
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.sig")
	other := bytes.Repeat([]byte{9}, KeySize)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v is not ErrMalformed", err)
			}
			return
		}
		if len(s) > MaxLength {
			t.Fatalf("Parse accepted %d chars, MaxLength %d", len(s), MaxLength)
		}
		b := append(bytes.Clone(p.signed), p.tag...)
		if again := Prefix + base64.RawURLEncoding.EncodeToString(b); again != s {
			t.Fatalf("Parse accepted a second spelling: %q re-encodes to %q", s, again)
		}
		if p.Genuine(other) {
			t.Fatalf("genuine under a key it was not minted with: %q", s)
		}
		_ = p.Genuine(key)
		_ = p.Hash()
		tok, hash := Mint(p.FamilyID, p.Generation, key)
		q, err := Parse(tok)
		if err != nil || q.FamilyID != p.FamilyID || q.Generation != p.Generation || q.Hash() != hash || !q.Genuine(key) {
			t.Fatalf("Mint of a parsed family and generation: %+v, %v", q, err)
		}
	})
}
