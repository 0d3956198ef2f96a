package server

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authd/authd/config"
)

// FuzzSafeNext: whatever next a request carries, the sign-in pages only
// ever send the browser to a path of authd.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{
		"/account", "/account?x=1", "//evil.example", "https://evil.example", `/\evil`, "/\t/evil", "///x",
		"javascript:alert(1)", "/%2F%2Fevil", "/..//evil", "/a/../../b", "http:/x", "/\x00", "/ok#frag",
	} {
		f.Add(s)
	}
	base, _ := url.Parse("https://auth.example.com/signin")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got == "" {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n") {
			t.Fatalf("safeNext(%q) = %q", next, got)
		}
		// How a browser resolves the Location header.
		u, err := base.Parse(got)
		if err != nil {
			t.Fatalf("safeNext(%q) = %q, which does not parse: %v", next, got, err)
		}
		if u.Host != base.Host || u.Scheme != base.Scheme {
			t.Fatalf("safeNext(%q) = %q leads to %s", next, got, u)
		}
	})
}

// FuzzParseAuthz: an authorization request never sends the browser to an
// address the client did not register, and never panics.
func FuzzParseAuthz(f *testing.F) {
	s := &Server{
		cfg: config.Config{Issuer: "https://auth.example.com"},
		clients: newClients([]config.Client{
			{ID: "web", Public: true, Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid", "email"}},
			{ID: "conf", Secret: "0123456789abcdef", Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://conf.example.com/cb?t=1"}, Scopes: []string{"openid"}},
		}),
	}
	for _, seed := range []string{
		"client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=x",
		"client_id=web&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code",
		"client_id=conf&redirect_uri=https%3A%2F%2Fconf.example.com%2Fcb%3Ft%3D1&response_type=code&prompt=none+login&max_age=-1",
		"client_id=web&client_id=conf", "%zz", "client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&scope=openid+admin&response_type=code",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := s.parseAuthz(raw)
		var ae *authzError
		var pe *pageError
		switch {
		case err == nil:
			if req.challenge == "" && req.client.public {
				t.Fatalf("a public client's request without PKCE passed: %q", raw)
			}
			fallthrough
		case errors.As(err, &ae):
			r := &req
			if ae != nil {
				r = ae.req
			}
			if !slices.Contains(r.client.redirectURIs, r.redirectURI) {
				t.Fatalf("redirect to unregistered %q from %q", r.redirectURI, raw)
			}
			back, perr := url.Parse(s.authzResponseURL(r, url.Values{"code": {"c"}}))
			reg, _ := url.Parse(r.redirectURI)
			if perr != nil || back.Scheme != reg.Scheme || back.Host != reg.Host || back.Path != reg.Path {
				t.Fatalf("response URL %v does not lead to %s", back, r.redirectURI)
			}
		case errors.As(err, &pe):
		default:
			t.Fatalf("parseAuthz(%q) = %v, want nil, *authzError or *pageError", raw, err)
		}
	})
}
