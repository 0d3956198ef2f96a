package keys_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// fixture is a Manager whose active key is the fixed RSA-2048 key and whose
// next key is the fixed Ed25519 key, on a fake clock at t0.
type fixture struct {
	m          *keys.Manager
	db         storage.KeyStore
	clk        *clock
	rsa        *rsa.PrivateKey
	ed, edB    ed25519.PrivateKey
	kidR, kidE string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db, _ := newDB(t)
	clk := newClock()
	opts := baseOptions(clk)
	kids := plantKeys(t, db, opts.EncryptionKey,
		plant{"rsa2048.pem", keys.RS256, storage.KeyActive},
		plant{"ed25519.pem", keys.EdDSA, storage.KeyNext})
	return &fixture{
		m: newManager(t, db, opts), db: db, clk: clk,
		rsa:  loadKey(t, "rsa2048.pem").(*rsa.PrivateKey),
		ed:   loadKey(t, "ed25519.pem").(ed25519.PrivateKey),
		edB:  loadKey(t, "ed25519-b.pem").(ed25519.PrivateKey),
		kidR: kids[0], kidE: kids[1],
	}
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// craft builds a compact JWS from a raw header and payload, signed by sign
// over the signing input.
func craft(hdr, payload string, sign func([]byte) []byte) string {
	in := enc(hdr) + "." + enc(payload)
	return in + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(in)))
}

func rsaSigner(k *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		s, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
		if err != nil {
			panic(err)
		}
		return s
	}
}

func edSigner(k ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(k, in) }
}

func hmacSigner(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		h := hmac.New(sha256.New, secret)
		h.Write(in)
		return h.Sum(nil)
	}
}

func noSig([]byte) []byte { return nil }

func hdr(alg, kid, typ string) string {
	return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + typ + `"}`
}

func claimsJSON(c any) string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

type rejectCase struct {
	name  string
	token string
	want  keys.Expected // zero: wantAccess(t0)
	err   error
}

// rejectionCases are the tokens Verify must refuse, each with the sentinel
// error it must wrap. They also seed FuzzVerify.
func rejectionCases(f *fixture) []rejectCase {
	good := newAccessClaims(t0, 15*time.Minute)
	body := claimsJSON(good)
	hR := hdr("RS256", f.kidR, "at+jwt")
	hE := hdr("EdDSA", f.kidE, "at+jwt")
	rs, es := rsaSigner(f.rsa), edSigner(f.ed)
	valid := craft(hR, body, rs)
	parts := strings.Split(valid, ".")

	pubDER, _ := x509.MarshalPKIXPublicKey(&f.rsa.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	jwks, _ := f.m.JWKS()

	expired := newAccessClaims(t0.Add(-time.Hour), 15*time.Minute)
	expiredTok := craft(hR, claimsJSON(expired), rs)
	ep := strings.Split(expiredTok, ".")
	tamperedClaims := expired
	tamperedClaims.Subject = "admin"

	with := func(mod func(*accessClaims)) string {
		c := newAccessClaims(t0, 15*time.Minute)
		mod(&c)
		return claimsJSON(c)
	}
	idWant := keys.Expected{Type: keys.TypeIDToken, Issuer: issuer, Audience: "api", Now: t0}

	return []rejectCase{
		{"alg none", craft(`{"alg":"none","kid":"`+f.kidR+`","typ":"at+jwt"}`, body, noSig), keys.Expected{}, keys.ErrAlgorithm},
		{"alg none no kid", craft(`{"alg":"none"}`, body, noSig), keys.Expected{}, keys.ErrAlgorithm},
		{"alg None", craft(hdr("None", f.kidR, "at+jwt"), body, noSig), keys.Expected{}, keys.ErrAlgorithm},
		{"HS256 with RSA public key PEM as secret", craft(hdr("HS256", f.kidR, "at+jwt"), body, hmacSigner(pubPEM)), keys.Expected{}, keys.ErrAlgorithm},
		{"HS256 with JWKS as secret", craft(hdr("HS256", f.kidR, "at+jwt"), body, hmacSigner(jwks)), keys.Expected{}, keys.ErrAlgorithm},
		{"HS512", craft(hdr("HS512", f.kidR, "at+jwt"), body, hmacSigner(pubDER)), keys.Expected{}, keys.ErrAlgorithm},
		{"ES256", craft(hdr("ES256", f.kidR, "at+jwt"), body, rs), keys.Expected{}, keys.ErrAlgorithm},
		{"PS256 on RSA kid", craft(hdr("PS256", f.kidR, "at+jwt"), body, rs), keys.Expected{}, keys.ErrAlgorithm},
		{"RS256 header on Ed25519 kid", craft(hdr("RS256", f.kidE, "at+jwt"), body, rs), keys.Expected{}, keys.ErrAlgorithm},
		{"EdDSA header on RSA kid", craft(hdr("EdDSA", f.kidR, "at+jwt"), body, es), keys.Expected{}, keys.ErrAlgorithm},
		{"alg not a string", craft(`{"alg":1,"kid":"`+f.kidR+`","typ":"at+jwt"}`, body, rs), keys.Expected{}, keys.ErrMalformed},
		{"empty signature", parts[0] + "." + parts[1] + ".", keys.Expected{}, keys.ErrSignature},
		{"signature of another Ed25519 key", craft(hE, body, edSigner(f.edB)), keys.Expected{}, keys.ErrSignature},
		{"signature over other claims", parts[0] + "." + enc(with(func(c *accessClaims) { c.Subject = "admin" })) + "." + parts[2], keys.Expected{}, keys.ErrSignature},
		{"expired and tampered", ep[0] + "." + enc(claimsJSON(tamperedClaims)) + "." + ep[2], keys.Expected{}, keys.ErrSignature},
		{"unknown kid", craft(hdr("RS256", "no-such-kid", "at+jwt"), body, rs), keys.Expected{}, keys.ErrUnknownKey},
		{"no kid", craft(`{"alg":"RS256","typ":"at+jwt"}`, body, rs), keys.Expected{}, keys.ErrUnknownKey},
		{"jku header", craft(`{"alg":"RS256","kid":"`+f.kidR+`","typ":"at+jwt","jku":"https://evil.example/jwks"}`, body, rs), keys.Expected{}, keys.ErrHeader},
		{"x5u header", craft(`{"alg":"RS256","kid":"`+f.kidR+`","typ":"at+jwt","x5u":"https://evil.example/cert"}`, body, rs), keys.Expected{}, keys.ErrHeader},
		{"jwk header", craft(`{"alg":"EdDSA","kid":"`+f.kidE+`","typ":"at+jwt","jwk":{"kty":"OKP","crv":"Ed25519","x":"`+base64.RawURLEncoding.EncodeToString(f.edB.Public().(ed25519.PublicKey))+`"}}`, body, edSigner(f.edB)), keys.Expected{}, keys.ErrHeader},
		{"x5c header", craft(`{"alg":"RS256","kid":"`+f.kidR+`","typ":"at+jwt","x5c":["MIIB"]}`, body, rs), keys.Expected{}, keys.ErrHeader},
		{"crit header", craft(`{"alg":"RS256","kid":"`+f.kidR+`","typ":"at+jwt","crit":["exp"],"exp":1}`, body, rs), keys.Expected{}, keys.ErrHeader},
		{"b64 false", craft(`{"alg":"RS256","kid":"`+f.kidR+`","typ":"at+jwt","b64":false,"crit":["b64"]}`, body, rs), keys.Expected{}, keys.ErrHeader},
		{"duplicate alg", craft(`{"alg":"RS256","kid":"`+f.kidR+`","typ":"at+jwt","alg":"none"}`, body, rs), keys.Expected{}, keys.ErrHeader},
		{"header not an object", craft(`["RS256"]`, body, rs), keys.Expected{}, keys.ErrMalformed},
		{"header trailing data", craft(hR+`{}`, body, rs), keys.Expected{}, keys.ErrMalformed},
		{"wrong typ", craft(hdr("RS256", f.kidR, "JWT"), body, rs), keys.Expected{}, keys.ErrType},
		{"no typ", craft(`{"alg":"RS256","kid":"`+f.kidR+`"}`, body, rs), keys.Expected{}, keys.ErrType},
		{"typ with other media type", craft(hdr("RS256", f.kidR, "text/at+jwt"), body, rs), keys.Expected{}, keys.ErrType},
		{"access token as ID token", valid, idWant, keys.ErrType},
		{"wrong iss", craft(hR, with(func(c *accessClaims) { c.Issuer = "https://evil.example" }), rs), keys.Expected{}, keys.ErrIssuer},
		{"iss differs in case", craft(hR, with(func(c *accessClaims) { c.Issuer = strings.ToUpper(issuer) }), rs), keys.Expected{}, keys.ErrIssuer},
		{"aud array not naming us", craft(hR, with(func(c *accessClaims) { c.Audience = keys.Audience{"billing", "other"} }), rs), keys.Expected{}, keys.ErrAudience},
		{"aud string not naming us", craft(hR, with(func(c *accessClaims) { c.Audience = keys.Audience{"billing"} }), rs), keys.Expected{}, keys.ErrAudience},
		{"no aud", craft(hR, with(func(c *accessClaims) { c.Audience = nil }), rs), keys.Expected{}, keys.ErrAudience},
		{"expired", expiredTok, keys.Expected{}, keys.ErrExpired},
		{"expired beyond skew", valid, wantAccess(t0.Add(16 * time.Minute)), keys.ErrExpired},
		{"no exp", craft(hR, with(func(c *accessClaims) { c.Expiry = 0 }), rs), keys.Expected{}, keys.ErrExpired},
		{"not yet valid", craft(hR, with(func(c *accessClaims) { c.NotBefore = keys.NewNumericDate(t0.Add(2 * time.Minute)) }), rs), keys.Expected{}, keys.ErrNotYetValid},
		{"issued in the future", craft(hR, with(func(c *accessClaims) { c.IssuedAt = keys.NewNumericDate(t0.Add(2 * time.Minute)) }), rs), keys.Expected{}, keys.ErrNotYetValid},
		{"exp not a number", craft(hR, strings.Replace(body, `"exp":`, `"exp":"1"+`, 1), rs), keys.Expected{}, keys.ErrMalformed},
		{"claims not JSON", craft(hR, "not json", rs), keys.Expected{}, keys.ErrMalformed},
		{"claim of wrong type for dst", craft(hR, strings.Replace(body, `"sid":"s-1"`, `"sid":5`, 1), rs), keys.Expected{}, keys.ErrMalformed},
		{"1 MiB of dots", strings.Repeat(".", 1<<20), keys.Expected{}, keys.ErrMalformed},
		{"just over the size cap", valid + strings.Repeat("A", keys.MaxTokenSize-len(valid)+1), keys.Expected{}, keys.ErrMalformed},
		{"empty", "", keys.Expected{}, keys.ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], keys.Expected{}, keys.ErrMalformed},
		{"JWE (five parts)", enc(`{"alg":"RSA-OAEP","enc":"A256GCM","kid":"`+f.kidR+`"}`) + ".AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", keys.Expected{}, keys.ErrMalformed},
		{"JSON serialisation", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, keys.Expected{}, keys.ErrMalformed},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], keys.Expected{}, keys.ErrMalformed},
		{"standard base64 alphabet", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+", keys.Expected{}, keys.ErrMalformed},
		{"newline inside", parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2], keys.Expected{}, keys.ErrMalformed},
		{"leading space", " " + valid, keys.Expected{}, keys.ErrMalformed},
		{"non-canonical trailing bits", nonCanonical(valid), keys.Expected{}, keys.ErrMalformed},
	}
}

// nonCanonical changes the last character of the signature so that it
// decodes to the same bytes (only unused bits differ), or returns a token
// with a bad character if no such change exists for this length.
func nonCanonical(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig := tok[i+1:]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	switch len(sig) % 4 {
	case 2:
		return tok[:len(tok)-1] + string(alphabet[last|0x01])
	case 3:
		return tok[:len(tok)-1] + string(alphabet[last|0x01])
	}
	return tok + "!"
}

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	for _, tc := range rejectionCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want.Type == "" {
				want = wantAccess(t0)
			}
			dst := accessClaims{Scope: "untouched"}
			err := f.m.Verify(tc.token, want, &dst)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Verify() error = %v, want %v", err, tc.err)
			}
			if dst.Scope != "untouched" || dst.Subject != "" {
				t.Errorf("Verify() changed dst on error: %+v", dst)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	f := newFixture(t)
	claims := newAccessClaims(t0, 15*time.Minute)
	tok, err := f.m.Sign(keys.TypeAccessToken, claims)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	hdrB, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if got, want := string(hdrB), hdr("RS256", f.kidR, "at+jwt"); got != want {
		t.Errorf("header = %s, want %s", got, want)
	}
	var got accessClaims
	if err := f.m.Verify(tok, wantAccess(t0), &got); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !reflect.DeepEqual(got, claims) {
		t.Errorf("claims = %+v, want %+v", got, claims)
	}
	// dst is replaced, not merged into.
	stale := accessClaims{Scope: "stale", ClientID: "x"}
	if err := f.m.Verify(tok, wantAccess(t0), &stale); err != nil || !reflect.DeepEqual(stale, claims) {
		t.Errorf("Verify into used dst = %+v, %v; want %+v", stale, err, claims)
	}
	if err := f.m.Verify(tok, wantAccess(t0), nil); err != nil {
		t.Errorf("Verify(dst nil) = %v", err)
	}
	if err := f.m.Verify(tok, wantAccess(t0), got); err == nil {
		t.Errorf("Verify(dst not a pointer) succeeded")
	}
	if err := f.m.Verify(tok, keys.Expected{Type: keys.TypeAccessToken}, nil); err == nil {
		t.Errorf("Verify without Expected.Issuer succeeded")
	}

	// The time window, with one minute of skew.
	window := []struct {
		name string
		now  time.Time
		err  error
	}{
		{"at iat", t0, nil},
		{"within the skew before iat", t0.Add(-59 * time.Second), nil},
		{"beyond the skew before iat", t0.Add(-61 * time.Second), keys.ErrNotYetValid},
		{"just before exp", t0.Add(15*time.Minute - time.Second), nil},
		{"within the skew after exp", t0.Add(15*time.Minute + 59*time.Second), nil},
		{"at exp plus skew", t0.Add(16 * time.Minute), keys.ErrExpired},
	}
	for _, w := range window {
		if err := f.m.Verify(tok, wantAccess(w.now), nil); !errors.Is(err, w.err) {
			t.Errorf("%s: Verify() = %v, want %v", w.name, err, w.err)
		}
	}
	// Expected.Now zero means the manager's clock.
	f.clk.Set(t0.Add(time.Hour))
	if err := f.m.Verify(tok, keys.Expected{Type: keys.TypeAccessToken, Issuer: issuer}, nil); !errors.Is(err, keys.ErrExpired) {
		t.Errorf("Verify at clock t0+1h = %v, want ErrExpired", err)
	}
	if err := f.m.Verify(tok, keys.Expected{Type: keys.TypeAccessToken, Issuer: issuer, IgnoreExpiry: true}, nil); err != nil {
		t.Errorf("Verify with IgnoreExpiry = %v", err)
	}
	// Audience "" is not checked.
	if err := f.m.Verify(tok, keys.Expected{Type: keys.TypeAccessToken, Issuer: issuer, Now: t0}, nil); err != nil {
		t.Errorf("Verify without audience = %v", err)
	}
}

func TestTypeMatching(t *testing.T) {
	f := newFixture(t)
	body := claimsJSON(newAccessClaims(t0, time.Minute))
	for _, tc := range []struct {
		typ, want string
		ok        bool
	}{
		{"at+jwt", keys.TypeAccessToken, true},
		{"AT+JWT", keys.TypeAccessToken, true},
		{"application/at+jwt", keys.TypeAccessToken, true},
		{"Application/At+JWT", keys.TypeAccessToken, true},
		{"JWT", keys.TypeIDToken, true},
		{"jwt", keys.TypeIDToken, true},
		{"application/jwt", keys.TypeIDToken, true},
		{"JWT", keys.TypeAccessToken, false},
		{"at+jwt", keys.TypeIDToken, false},
		{"application/", keys.TypeAccessToken, false},
		{"text/at+jwt", keys.TypeAccessToken, false},
		{"at+jwt ", keys.TypeAccessToken, false},
		{"logout+jwt", keys.TypeIDToken, false},
	} {
		tok := craft(hdr("RS256", f.kidR, tc.typ), body, rsaSigner(f.rsa))
		err := f.m.Verify(tok, keys.Expected{Type: tc.want, Issuer: issuer, Now: t0}, nil)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, keys.ErrType)) {
			t.Errorf("typ %q as %q: Verify() = %v, want ok=%v", tc.typ, tc.want, err, tc.ok)
		}
	}
}

func TestSignEveryAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		file, alg string
	}{
		{"rsa2048.pem", keys.RS256},
		{"rsa3072.pem", keys.RS256},
		{"ed25519.pem", keys.EdDSA},
	} {
		t.Run(tc.file, func(t *testing.T) {
			db, _ := newDB(t)
			clk := newClock()
			opts := baseOptions(clk)
			kids := plantKeys(t, db, opts.EncryptionKey,
				plant{tc.file, tc.alg, storage.KeyActive},
				plant{"ed25519-b.pem", keys.EdDSA, storage.KeyNext})
			m := newManager(t, db, opts)
			if kid, alg, ok := m.Active(); kid != kids[0] || alg != tc.alg || !ok {
				t.Errorf("Active() = %q, %q, %v; want %q, %q, true", kid, alg, ok, kids[0], tc.alg)
			}
			id := keys.Claims{Issuer: issuer, Subject: "u-1", Audience: keys.Audience{"demo-spa"},
				IssuedAt: keys.NewNumericDate(t0), Expiry: keys.NewNumericDate(t0.Add(time.Minute))}
			tok, err := m.Sign(keys.TypeIDToken, id)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			// One audience is written as a string (what OIDC clients expect).
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			if !strings.Contains(string(payload), `"aud":"demo-spa"`) {
				t.Errorf("payload %s: aud not a plain string", payload)
			}
			var got keys.Claims
			err = m.Verify(tok, keys.Expected{Type: keys.TypeIDToken, Issuer: issuer, Audience: "demo-spa", Now: t0}, &got)
			if err != nil || !reflect.DeepEqual(got, id) {
				t.Errorf("Verify() = %+v, %v; want %+v", got, err, id)
			}
			if _, err := m.Sign(keys.TypeIDToken, []string{"not an object"}); err == nil {
				t.Errorf("Sign(array) succeeded")
			}
			if _, err := m.Sign("", id); err == nil {
				t.Errorf("Sign(typ \"\") succeeded")
			}
			// An uncommon typ is encoded on the fly.
			tok, err = m.Sign("logout+jwt", id)
			if err != nil {
				t.Fatalf("Sign(logout+jwt): %v", err)
			}
			if err := m.Verify(tok, keys.Expected{Type: "logout+jwt", Issuer: issuer, Now: t0}, nil); err != nil {
				t.Errorf("Verify(logout+jwt): %v", err)
			}
		})
	}
}

// TestOversizedIsCheap: rejecting a megabyte of dots is one comparison and
// no allocation.
func TestOversizedIsCheap(t *testing.T) {
	f := newFixture(t)
	dots := strings.Repeat(".", 1<<20)
	want := wantAccess(t0)
	var err error
	allocs := testing.AllocsPerRun(100, func() { err = f.m.Verify(dots, want, nil) })
	if !errors.Is(err, keys.ErrMalformed) {
		t.Fatalf("Verify(1 MiB of dots) = %v, want ErrMalformed", err)
	}
	if allocs != 0 {
		t.Errorf("Verify(1 MiB of dots) allocates %v times, want 0", allocs)
	}
	// Dots just under the cap are refused at the part count, cheaply too.
	dots = strings.Repeat(".", keys.MaxTokenSize)
	allocs = testing.AllocsPerRun(100, func() { err = f.m.Verify(dots, want, nil) })
	if !errors.Is(err, keys.ErrMalformed) || allocs > 3 {
		t.Errorf("Verify(8 KiB of dots) = %v with %v allocs, want ErrMalformed with at most 3", err, allocs)
	}
}

func TestClaimsJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want keys.Audience
		ok   bool
	}{
		{`"a"`, keys.Audience{"a"}, true},
		{`["a","b"]`, keys.Audience{"a", "b"}, true},
		{`[]`, keys.Audience{}, true},
		{`5`, nil, false},
		{`[5]`, nil, false},
	} {
		var a keys.Audience
		err := json.Unmarshal([]byte(tc.in), &a)
		if (err == nil) != tc.ok || (tc.ok && !reflect.DeepEqual(a, tc.want)) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v, ok=%v", tc.in, a, err, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{{`1700000000`, true}, {`1.5`, false}, {`"1"`, false}, {`1e9`, false}} {
		var d keys.NumericDate
		if err := json.Unmarshal([]byte(tc.in), &d); (err == nil) != tc.ok {
			t.Errorf("NumericDate Unmarshal(%s) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
	if got := keys.NumericDate(0).Time(); !got.IsZero() {
		t.Errorf("NumericDate(0).Time() = %v, want zero", got)
	}
	if got := keys.NewNumericDate(t0).Time(); !got.Equal(t0) {
		t.Errorf("NewNumericDate(t0).Time() = %v, want %v", got, t0)
	}
	b, _ := json.Marshal(keys.Claims{Audience: keys.Audience{"a", "b"}})
	if got, want := string(b), `{"aud":["a","b"]}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
}
