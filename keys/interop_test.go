package keys_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// TestInterop: what resource servers and OIDC clients use accepts authd's
// tokens from the served JWKS alone — go-jose's jwt package, and go-oidc
// fetching the JWKS over HTTP — for each algorithm.
func TestInterop(t *testing.T) {
	for _, tc := range []struct{ file, alg string }{
		{"rsa2048.pem", keys.RS256},
		{"ed25519.pem", keys.EdDSA},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			db, _ := newDB(t)
			clk := newClock()
			opts := baseOptions(clk)
			plantKeys(t, db, opts.EncryptionKey,
				plant{tc.file, tc.alg, storage.KeyActive},
				plant{"ed25519-b.pem", keys.EdDSA, storage.KeyNext})
			m := newManager(t, db, opts)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, etag := m.JWKS()
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("ETag", etag)
				w.Write(body)
			}))
			defer srv.Close()

			now := time.Now() // go-oidc checks against its own clock
			id := keys.Claims{Issuer: issuer, Subject: "u-1", Audience: keys.Audience{"demo-spa"},
				IssuedAt: keys.NewNumericDate(now), Expiry: keys.NewNumericDate(now.Add(time.Minute))}
			idTok, err := m.Sign(keys.TypeIDToken, id)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			v := oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(ctx, srv.URL), &oidc.Config{
				ClientID: "demo-spa", SupportedSigningAlgs: []string{tc.alg},
			})
			got, err := v.Verify(ctx, idTok)
			if err != nil {
				t.Fatalf("go-oidc: %v", err)
			}
			if got.Subject != "u-1" {
				t.Errorf("go-oidc subject = %q", got.Subject)
			}

			// go-jose/jwt with the JWKS, as an RFC 9068 resource server.
			access := newAccessClaims(now, time.Minute)
			atTok, err := m.Sign(keys.TypeAccessToken, access)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var set jose.JSONWebKeySet
			if err := jsonDecode(resp.Body, &set); err != nil {
				t.Fatal(err)
			}
			parsed, err := jwt.ParseSigned(atTok, []jose.SignatureAlgorithm{jose.RS256, jose.EdDSA})
			if err != nil {
				t.Fatalf("go-jose parse: %v", err)
			}
			if typ := parsed.Headers[0].ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
				t.Errorf("typ = %v, want at+jwt", typ)
			}
			var c jwt.Claims
			if err := parsed.Claims(set, &c); err != nil {
				t.Fatalf("go-jose verify: %v", err)
			}
			if err := c.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{"api"}, Time: now}, 0); err != nil {
				t.Errorf("go-jose validate: %v", err)
			}
		})
	}
}
