package password

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// cheap are argon2id parameters that make tests fast; the round-trip test
// uses the defaults.
var cheap = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func newHasher(t testing.TB, opts Options) *Hasher {
	t.Helper()
	if opts.Params == (Params{}) {
		opts.Params = cheap
	}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashRoundTripDefaultParams(t *testing.T) {
	h, err := New(Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := context.Background()
	const pw = "tr0ub4dor&3 ünïcode"
	enc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if !phcRE.MatchString(enc) {
		t.Errorf("Hash = %q, want a PHC argon2id string at the default parameters", enc)
	}
	ok, rehash, err := h.Verify(ctx, pw, enc)
	if !ok || rehash || err != nil {
		t.Errorf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, rehash, err = h.Verify(ctx, pw+"x", enc)
	if ok || rehash || err != nil {
		t.Errorf("Verify(wrong password) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}
	enc2, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if enc2 == enc {
		t.Errorf("two hashes of one password are equal (%q): salt not random", enc)
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := newHasher(t, Options{Params: Params{MemoryKiB: 32, Iterations: 2, Parallelism: 1}})
	enc, err := old.Hash(ctx, "password one")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	for _, p := range []Params{
		{MemoryKiB: 64, Iterations: 2, Parallelism: 1},
		{MemoryKiB: 32, Iterations: 3, Parallelism: 1},
		{MemoryKiB: 32, Iterations: 2, Parallelism: 2},
	} {
		h := newHasher(t, Options{Params: p})
		ok, rehash, err := h.Verify(ctx, "password one", enc)
		if !ok || !rehash || err != nil {
			t.Errorf("%+v: Verify(right password, old params) = %v, %v, %v; want true, true, nil", p, ok, rehash, err)
		}
		ok, rehash, err = h.Verify(ctx, "password two", enc)
		if ok || rehash || err != nil {
			t.Errorf("%+v: Verify(wrong password, old params) = %v, %v, %v; want false, false, nil", p, ok, rehash, err)
		}
	}
}

type vector struct {
	Name, Tool, Password, Hash string
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatalf("testdata/vectors.json: %v", err)
	}
	if len(vs) < 10 {
		t.Fatalf("testdata/vectors.json has %d vectors, want at least 10", len(vs))
	}
	return vs
}

// TestVectors verifies hashes made by Django, pyca bcrypt and argon2-cffi
// (testdata/gen_vectors.py).
func TestVectors(t *testing.T) {
	h := newHasher(t, Options{Params: DefaultParams(), MaxConcurrent: 2})
	ctx := context.Background()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			if raceEnabled && v.Name == "django bcrypt_sha256 default" {
				t.Skip("bcrypt at cost 12 takes seconds under -race; checked without it")
			}
			if err := ValidateHash(v.Hash); err != nil {
				t.Errorf("ValidateHash: %v", err)
			}
			s, err := parseHash(v.Hash, nil)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := s.String(); got != v.Hash {
				t.Errorf("parse(h).String() = %q, want %q", got, v.Hash)
			}
			wantRehash := v.Name != "argon2id authd params"
			ok, rehash, err := h.Verify(ctx, v.Password, v.Hash)
			if !ok || rehash != wantRehash || err != nil {
				t.Errorf("Verify(right password) = %v, %v, %v; want true, %v, nil", ok, rehash, err, wantRehash)
			}
			ok, rehash, err = h.Verify(ctx, "!"+v.Password, v.Hash)
			if ok || rehash || err != nil {
				t.Errorf("Verify(wrong password) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

// TestBcryptLongPasswords pins what the formats do with passwords past
// bcrypt's 72 bytes, as Django does: plain bcrypt ignores the rest,
// bcrypt_sha256 does not.
func TestBcryptLongPasswords(t *testing.T) {
	h := newHasher(t, Options{})
	ctx := context.Background()
	byName := map[string]vector{}
	for _, v := range loadVectors(t) {
		byName[v.Name] = v
	}
	for name, wantOK := range map[string]bool{
		"django bcrypt cost 4 long":        true,
		"django bcrypt_sha256 cost 4 long": false,
	} {
		v, found := byName[name]
		if !found {
			t.Fatalf("no vector %q", name)
		}
		other := v.Password[:72] + "-different tail"
		ok, _, err := h.Verify(ctx, other, v.Hash)
		if ok != wantOK || err != nil {
			t.Errorf("%s: Verify(same first 72 bytes) = %v, %v; want %v, nil", name, ok, err, wantOK)
		}
	}
}

// malformed are stored hashes Verify must refuse as ErrUnknownFormat.
var malformed = []struct{ name, hash string }{
	{"no scheme", "5f4dcc3b5aa765d61d8327deb882cf99"},
	{"django md5", "md5$salt$1d9a8ad8e6c9c1b7bd3a4f9a5e8f9d1c"},
	{"django sha1", "sha1$salt$2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
	{"django unsalted md5", "unsalted_md5$$5f4dcc3b5aa765d61d8327deb882cf99"},
	{"django scrypt", "scrypt$16384$salt$8$1$aGFzaA=="},
	{"just a dollar", "$"},
	{"dollars", "$$$$$$"},
	{"django argon2 alone", "argon2"},
	{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 version 16", "$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 no version", "$argon2id$m=64,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 params order", "$argon2id$v=19$t=1,m=64,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 leading zero", "$argon2id$v=19$m=064,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 sign", "$argon2id$v=19$m=+64,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 m too big", "$argon2id$v=19$m=1048577,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 m overflow", "$argon2id$v=19$m=99999999999999999999,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 t too big", "$argon2id$v=19$m=64,t=101,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 m×t too big", "$argon2id$v=19$m=1048576,t=17,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 t zero", "$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 p zero", "$argon2id$v=19$m=64,t=1,p=0$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 p too big", "$argon2id$v=19$m=65536,t=1,p=256$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 m below 8p", "$argon2id$v=19$m=15,t=1,p=2$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 extra param", "$argon2id$v=19$m=64,t=1,p=1,keyid=x$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 short salt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 padded salt", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 newline in salt", "$argon2id$v=19$m=64,t=1,p=1$c29tZX\nNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"argon2 url base64", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2_"},
	{"argon2 short hash", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQ"},
	{"argon2 no hash", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ"},
	{"argon2 trailing dollar", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q$"},
	{"django argon2 no dollar", "argon2argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"},
	{"bcrypt 2x", "$2x$04$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5pS"},
	{"bcrypt 2", "$2$04$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5pS"},
	{"bcrypt cost 3", "$2b$03$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5pS"},
	{"bcrypt cost 17", "$2b$17$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5pS"},
	{"bcrypt cost 31", "$2b$31$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5pS"},
	{"bcrypt cost letters", "$2b$1a$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5pS"},
	{"bcrypt short", "$2b$04$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5p"},
	{"bcrypt long", "$2b$04$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5pSS"},
	{"bcrypt bad char", "$2b$04$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5p+"},
	{"django bcrypt_sha256 empty", "bcrypt_sha256$"},
	{"django bcrypt no dollar", "bcrypt"},
	{"django bcrypt_sha256 no dollar", "bcrypt_sha256"},
	{"pbkdf2 alone", "pbkdf2_sha256"},
	{"django bcrypt_sha256 bare", "bcrypt_sha256$2b$04$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5pS"},
	{"pbkdf2 parts", "pbkdf2_sha256$1000$salt"},
	{"pbkdf2 extra part", "pbkdf2_sha256$1000$salt$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo=$"},
	{"pbkdf2 zero iterations", "pbkdf2_sha256$0$salt$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="},
	{"pbkdf2 too many iterations", "pbkdf2_sha256$10000001$salt$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="},
	{"pbkdf2 negative iterations", "pbkdf2_sha256$-1$salt$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="},
	{"pbkdf2 leading zero", "pbkdf2_sha256$01000$salt$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="},
	{"pbkdf2 empty salt", "pbkdf2_sha256$1000$$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="},
	{"pbkdf2 invalid utf-8 salt", "pbkdf2_sha256$1000$\xff$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="},
	{"pbkdf2 unpadded", "pbkdf2_sha256$1000$salt$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo"},
	{"pbkdf2 short hash", "pbkdf2_sha256$1000$salt$yGM6qVFTc44lOr7alIZ5wR084G5ddga="},
	{"pbkdf2_sha1 with sha256 length", "pbkdf2_sha1$1000$salt$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="},
	{"pbkdf2_sha512", "pbkdf2_sha512$1000$salt$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="},
	{"too long", "pbkdf2_sha256$1000$" + strings.Repeat("s", 600) + "$yGM6qVFTc44lOr7alIZ5wR084G5ddgaRJpHKpR/0ZRo="},
	{"leading space", " $2b$04$wClZU4T4VsY0oRnti/kfv.ax74.A4RCr6cgA/2pb3LUl2YhBTS5pS"},
}

func TestMalformedHashes(t *testing.T) {
	h := newHasher(t, Options{})
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), "password", tc.hash)
			if ok || rehash || !errors.Is(err, ErrUnknownFormat) {
				t.Errorf("Verify = %v, %v, %v; want false, false, ErrUnknownFormat", ok, rehash, err)
			}
			if err := ValidateHash(tc.hash); !errors.Is(err, ErrUnknownFormat) {
				t.Errorf("ValidateHash = %v, want ErrUnknownFormat", err)
			}
			if err != nil && len(tc.hash) > 20 && strings.Contains(err.Error(), tc.hash) {
				t.Errorf("error %q echoes the hash", err)
			}
		})
	}
}

func TestNoPassword(t *testing.T) {
	h := newHasher(t, Options{})
	for _, enc := range []string{"", "!", "!oJ3mPsZ6vQk0Zg7Rn1c5Hhq1dTbE8yWfXlAaUuCp"} {
		ok, rehash, err := h.Verify(context.Background(), "password", enc)
		if ok || rehash || !errors.Is(err, ErrNoPassword) {
			t.Errorf("Verify(%q) = %v, %v, %v; want false, false, ErrNoPassword", enc, ok, rehash, err)
		}
		if err := ValidateHash(enc); !errors.Is(err, ErrNoPassword) {
			t.Errorf("ValidateHash(%q) = %v, want ErrNoPassword", enc, err)
		}
	}
}

// TestOwnParamsExempt: a hash at the Hasher's own parameters is read even
// when they exceed the limits put on imported hashes.
func TestOwnParamsExempt(t *testing.T) {
	const enc = "$argon2id$v=19$m=2097152,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q"
	if _, err := parseHash(enc, nil); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("parse with import limits = %v, want ErrUnknownFormat", err)
	}
	own := Params{MemoryKiB: 2097152, Iterations: 1, Parallelism: 1}
	if _, err := parseHash(enc, &own); err != nil {
		t.Errorf("parse at own params = %v, want nil", err)
	}
}

func TestCheckLength(t *testing.T) {
	h := newHasher(t, Options{MinLength: 4, MaxLength: 6})
	for _, tc := range []struct {
		name, pw string
		want     error
	}{
		{"empty", "", ErrTooShort},
		{"3 ASCII", "abc", ErrTooShort},
		{"4 ASCII", "abcd", nil},
		{"6 ASCII", "abcdef", nil},
		{"7 ASCII", "abcdefg", ErrTooLong},
		{"3 runes in 9 bytes", "€€€", ErrTooShort},
		{"4 runes in 8 bytes", "äöüß", nil},
		{"6 runes in 24 bytes", "😀😀😀😀😀😀", nil},
		{"7 runes in 28 bytes", "😀😀😀😀😀😀😀", ErrTooLong},
		{"combining marks count", "e\u0301e\u0301e\u0301e", ErrTooLong},
		{"invalid UTF-8", "abc\xffd", ErrInvalid},
		{"2 MiB", strings.Repeat("a", 2<<20), ErrTooLong},
		{"2 MiB invalid", strings.Repeat("\xff", 2<<20), ErrTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.CheckLength(tc.pw); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("CheckLength = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestLongPasswordFailsFast: a 2 MiB password is refused before a slot is
// asked for. Every slot is taken, so a call that reached the semaphore
// would answer ErrBusy instead.
func TestLongPasswordFailsFast(t *testing.T) {
	h := newHasher(t, Options{MaxConcurrent: 1, QueueWait: time.Hour})
	ctx := context.Background()
	enc, err := h.Hash(ctx, "a fine password")
	if err != nil {
		t.Fatal(err)
	}
	held, err := h.slots.acquire(ctx, Caller{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.slots.release(held)
	huge := strings.Repeat("x", 2<<20)
	if _, err := h.Hash(ctx, huge); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash(2 MiB) = %v, want ErrTooLong", err)
	}
	if ok, _, err := h.Verify(ctx, huge, enc); ok || !errors.Is(err, ErrTooLong) {
		t.Errorf("Verify(2 MiB) = %v, %v; want false, ErrTooLong", ok, err)
	}
	if err := h.VerifyDummy(ctx, huge); !errors.Is(err, ErrTooLong) {
		t.Errorf("VerifyDummy(2 MiB) = %v, want ErrTooLong", err)
	}
	if _, err := h.Hash(ctx, "short"); !errors.Is(err, ErrTooShort) {
		t.Errorf("Hash(short) = %v, want ErrTooShort", err)
	}
}

// TestLoginAcceptsShortOldPasswords: the minimum applies to new passwords
// only; one set under a laxer rule still logs in.
func TestLoginAcceptsShortOldPasswords(t *testing.T) {
	lax := newHasher(t, Options{MinLength: 1})
	enc, err := lax.Hash(context.Background(), "abc")
	if err != nil {
		t.Fatal(err)
	}
	strict := newHasher(t, Options{MinLength: 12})
	if ok, _, err := strict.Verify(context.Background(), "abc", enc); !ok || err != nil {
		t.Errorf("Verify(short old password) = %v, %v; want true, nil", ok, err)
	}
}

func TestBusy(t *testing.T) {
	h := newHasher(t, Options{MaxConcurrent: 2, QueueWait: time.Millisecond})
	ctx := context.Background()
	enc, err := h.Hash(ctx, "password one")
	if err != nil {
		t.Fatal(err)
	}
	var held []ticket
	for i := 0; i < 2; i++ {
		tk, err := h.slots.acquire(ctx, Caller{})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, tk)
	}
	if in, w := h.Stats(); in != 2 || w != 0 {
		t.Errorf("Stats = %d, %d; want 2, 0", in, w)
	}
	if _, err := h.Hash(ctx, "password one"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash with slots full = %v, want ErrBusy", err)
	}
	if ok, _, err := h.Verify(ctx, "password one", enc); ok || !errors.Is(err, ErrBusy) {
		t.Errorf("Verify with slots full = %v, %v; want false, ErrBusy", ok, err)
	}
	if err := h.VerifyDummy(ctx, "password one"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy with slots full = %v, want ErrBusy", err)
	}
	if _, _, err := h.Verify(ctx, "password one", ""); !errors.Is(err, ErrBusy) {
		t.Errorf("Verify(no password) with slots full = %v, want ErrBusy", err)
	}
	h.slots.release(held[0])
	h.slots.release(held[1])
	if in, w := h.Stats(); in != 0 || w != 0 {
		t.Errorf("Stats after release = %d, %d; want 0, 0", in, w)
	}
	// A caller that has gone gets no slot, even a free one.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Hash(done, "password one"); !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("Hash(canceled ctx) = %v, want ErrBusy and context.Canceled", err)
	}
}

// TestWaiterGetsSlot: a call queued behind a full semaphore runs when a slot
// frees, and Stats counts it while it waits.
func TestWaiterGetsSlot(t *testing.T) {
	h := newHasher(t, Options{MaxConcurrent: 1, QueueWait: time.Hour})
	ctx := context.Background()
	held, err := h.slots.acquire(ctx, Caller{})
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, "password one")
		result <- err
	}()
	for {
		if _, w := h.Stats(); w == 1 {
			break
		}
		runtime.Gosched()
	}
	if in, _ := h.Stats(); in != 1 {
		t.Errorf("inFlight = %d, want 1", in)
	}
	h.slots.release(held)
	if err := <-result; err != nil {
		t.Errorf("queued Hash = %v, want nil", err)
	}
	if in, w := h.Stats(); in != 0 || w != 0 {
		t.Errorf("Stats after = %d, %d; want 0, 0", in, w)
	}
}

// TestWaiterContextCanceled: a queued call gives up when its context ends.
func TestWaiterContextCanceled(t *testing.T) {
	h := newHasher(t, Options{MaxConcurrent: 1, QueueWait: time.Hour})
	held, err := h.slots.acquire(context.Background(), Caller{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.slots.release(held)
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- h.VerifyDummy(ctx, "password") }()
	for {
		if _, w := h.Stats(); w == 1 {
			break
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-result; !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyDummy = %v, want ErrBusy and context.Canceled", err)
	}
}

func TestVerifyDummy(t *testing.T) {
	h := newHasher(t, Options{Params: DefaultParams()})
	if !h.dummy.current(h.params) {
		t.Errorf("dummy hash %s is not at the current parameters", h.dummy)
	}
	if err := h.VerifyDummy(context.Background(), "any password"); err != nil {
		t.Errorf("VerifyDummy = %v, want nil", err)
	}
	if in, w := h.Stats(); in != 0 || w != 0 {
		t.Errorf("Stats after = %d, %d; want 0, 0", in, w)
	}
}

func TestNewOptions(t *testing.T) {
	h, err := New(Options{})
	if err != nil {
		t.Fatalf("New(zero) = %v", err)
	}
	if h.Params() != DefaultParams() || h.MinLength() != 8 || h.MaxLength() != 256 || h.slots.n != runtime.NumCPU() || h.slots.wait != 2*time.Second || h.slots.perKey != 2 || h.slots.maxLow != 0 {
		t.Errorf("defaults = %+v, %d, %d, %d, %s, %d, %d", h.Params(), h.MinLength(), h.MaxLength(), h.slots.n, h.slots.wait, h.slots.perKey, h.slots.maxLow)
	}
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"parallelism 0", Options{Params: Params{MemoryKiB: 64, Iterations: 1}}},
		{"memory below 8p", Options{Params: Params{MemoryKiB: 15, Iterations: 1, Parallelism: 2}}},
		{"memory above 4 GiB", Options{Params: Params{MemoryKiB: 4<<20 + 1, Iterations: 1, Parallelism: 1}}},
		{"iterations 0", Options{Params: Params{MemoryKiB: 64, Parallelism: 1}}},
		{"iterations 101", Options{Params: Params{MemoryKiB: 64, Iterations: 101, Parallelism: 1}}},
		{"min above max", Options{Params: cheap, MinLength: 10, MaxLength: 9}},
		{"negative min", Options{Params: cheap, MinLength: -1}},
		{"max above 4096", Options{Params: cheap, MaxLength: 4097}},
		{"negative concurrency", Options{Params: cheap, MaxConcurrent: -1}},
		{"negative wait", Options{Params: cheap, QueueWait: -time.Second}},
		{"negative max per key", Options{Params: cheap, MaxPerKey: -1}},
		{"negative max queued", Options{Params: cheap, MaxQueued: -1}},
	} {
		if _, err := New(tc.opts); err == nil {
			t.Errorf("%s: New = nil error, want one", tc.name)
		}
	}
}

func TestBlocklist(t *testing.T) {
	var b Blocklist
	if n := b.Len(); n < 19000 {
		t.Fatalf("Len = %d, want about 20000", n)
	}
	h := newHasher(t, Options{})
	for pw, want := range map[string]bool{
		"password":      true,
		"PassWord":      true,
		"  123456  ":    true,
		"qwerty123":     true,
		"letmein":       true,
		"":              false,
		"k7#Vq2!mZp9xL": false,
		"password\x00":  false,
	} {
		if got := h.IsCommon(pw); got != want {
			t.Errorf("IsCommon(%q) = %v, want %v", pw, got, want)
		}
	}
}

func TestSimilarTo(t *testing.T) {
	for _, tc := range []struct {
		pw    string
		attrs []string
		want  bool
	}{
		{"alice2024!", []string{"alice"}, true},
		{"xxALICExx", []string{"Alice"}, true},
		{"alice", []string{"alice"}, true},
		{"my-jsmith-pw", []string{"bob", "jsmith@example.com"}, true},
		{"example.com rocks", []string{"jsmith@example.com"}, false},
		{"al-is-short", []string{"al"}, false},
		{"jörgensen!", []string{"JÖRG"}, true},
		{"unrelated passphrase", []string{"alice", "alice@example.com"}, false},
		{"anything", []string{"", "@x"}, false},
		{"nothing", nil, false},
	} {
		if got := SimilarTo(tc.pw, tc.attrs...); got != tc.want {
			t.Errorf("SimilarTo(%q, %q) = %v, want %v", tc.pw, tc.attrs, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	h := newHasher(t, Options{MinLength: 8, MaxLength: 64})
	for _, tc := range []struct {
		pw   string
		want error
	}{
		{"short", ErrTooShort},
		{"alice-in-wonderland", ErrSimilar},
		{"password1", ErrCommon},
		{"Sunshine", ErrCommon},
		{"vivid-otter-plays-cello", nil},
	} {
		if err := h.Validate(tc.pw, "alice", "alice@example.com"); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Validate(%q) = %v, want %v", tc.pw, err, tc.want)
		}
	}
}

// FuzzVerify feeds arbitrary stored hashes to the parser and, when the work
// they ask for is small, to Verify. It checks that nothing panics, that
// every refusal is ErrUnknownFormat or ErrNoPassword, and that whatever
// parses is in canonical form (it re-encodes to the very same string), so
// no two spellings of one hash are accepted.
func FuzzVerify(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.Hash)
	}
	for _, m := range malformed {
		f.Add(m.hash)
	}
	f.Add("")
	f.Add("!unusable")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$4jxKO1hzpvNTWQLqYpyu2Q")
	h := newHasher(f, Options{MaxConcurrent: 1})
	f.Fuzz(func(t *testing.T, enc string) {
		s, err := parseHash(enc, nil)
		if err != nil {
			if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrNoPassword) {
				t.Fatalf("parse(%q) = %v, want ErrUnknownFormat or ErrNoPassword", enc, err)
			}
			if ValidateHash(enc) == nil {
				t.Fatalf("ValidateHash(%q) = nil after parse failed", enc)
			}
			return
		}
		if got := s.String(); got != enc {
			t.Fatalf("parse(%q).String() = %q: not canonical", enc, got)
		}
		cheapEnough := false
		switch s := s.(type) {
		case argon2Hash:
			p := s.params
			if p.MemoryKiB > maxArgon2MemoryKiB || p.Iterations > maxArgon2Iters {
				t.Fatalf("parse(%q) accepted params %+v beyond the limits", enc, p)
			}
			cheapEnough = uint64(p.MemoryKiB)*uint64(p.Iterations) <= 4096
		case pbkdf2Hash:
			if s.iter > maxPBKDF2Iters {
				t.Fatalf("parse(%q) accepted %d iterations", enc, s.iter)
			}
			cheapEnough = s.iter <= 10000
		case bcryptHash:
			cheapEnough = s.raw[4:6] <= "06"
		}
		if cheapEnough {
			if ok, _, err := h.Verify(context.Background(), "fuzz password", enc); ok || err != nil {
				t.Fatalf("Verify(%q) = %v, %v; want false, nil", enc, ok, err)
			}
		}
	})
}

// BenchmarkHash measures one argon2id hash at the default parameters.
func BenchmarkHash(b *testing.B) {
	h := newHasher(b, Options{Params: DefaultParams(), MaxConcurrent: 1, QueueWait: time.Hour})
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "benchmark password"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkVerifyParallel measures verifications at the default parameters
// from many goroutines through the semaphore (one slot per CPU).
func BenchmarkVerifyParallel(b *testing.B) {
	h := newHasher(b, Options{Params: DefaultParams(), QueueWait: time.Hour})
	ctx := context.Background()
	enc, err := h.Hash(ctx, "benchmark password")
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify(ctx, "benchmark password", enc); !ok || err != nil {
				b.Error(ok, err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}

// While a test holds the only slot, hashing and verification are busy;
// releasing it frees them at once.
func TestHoldSlotForTest(t *testing.T) {
	h := newHasher(t, Options{MaxConcurrent: 1, QueueWait: time.Millisecond})
	ctx := context.Background()
	enc, err := h.Hash(ctx, "long enough password")
	if err != nil {
		t.Fatal(err)
	}
	release, err := h.HoldSlotForTest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := h.Stats(); in != 1 {
		t.Errorf("in flight while held = %d, want 1", in)
	}
	if _, err := h.Hash(ctx, "long enough password"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash while held = %v, want ErrBusy", err)
	}
	if _, _, err := h.Verify(ctx, "long enough password", enc); !errors.Is(err, ErrBusy) {
		t.Errorf("Verify while held = %v, want ErrBusy", err)
	}
	if err := h.VerifyDummy(ctx, "long enough password"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy while held = %v, want ErrBusy", err)
	}
	release()
	release()
	if ok, _, err := h.Verify(ctx, "long enough password", enc); !ok || err != nil {
		t.Errorf("Verify after release = %v, %v", ok, err)
	}
	if in, _ := h.Stats(); in != 0 {
		t.Errorf("in flight after release = %d, want 0", in)
	}
}
