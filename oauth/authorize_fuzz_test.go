package oauth

import (
	"net/url"
	"slices"
	"testing"

	"github.com/authd/authd/config"
	"github.com/authd/authd/errs"
)

// FuzzParseAuthz: an authorization request never sends the browser to an
// address the client did not register, and never panics.
func FuzzParseAuthz(f *testing.F) {
	s := New(Options{
		Config: Config{Issuer: "https://auth.example.com"},
		Clients: NewClients([]config.Client{
			{ID: "web", Public: true, Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid", "email"}},
			{ID: "conf", Secret: "0123456789abcdef", Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://conf.example.com/cb?t=1"}, Scopes: []string{"openid"}},
		}),
	})
	for _, seed := range []string{
		"client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=x",
		"client_id=web&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code",
		"client_id=conf&redirect_uri=https%3A%2F%2Fconf.example.com%2Fcb%3Ft%3D1&response_type=code&prompt=none+login&max_age=-1",
		"client_id=web&client_id=conf", "%zz", "client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&scope=openid+admin&response_type=code",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := s.ParseAuthz(raw)
		if err == nil && req.Challenge == "" && req.Client.Public {
			t.Fatalf("a public client's request without PKCE passed: %q", raw)
		}
		if _, ok := errs.As(err); err != nil && !ok {
			t.Fatalf("ParseAuthz(%q) = %v, want nil or an *errs.Error", raw, err)
		}
		if err == nil && !req.Redirectable() {
			t.Fatalf("ParseAuthz(%q) passed without a known client and redirect URI", raw)
		}
		if !req.Redirectable() {
			return // shown as a page, never redirected
		}
		if !slices.Contains(req.Client.RedirectURIs, req.RedirectURI) {
			t.Fatalf("redirect to unregistered %q from %q", req.RedirectURI, raw)
		}
		back, perr := url.Parse(s.ResponseURL(&req, url.Values{"code": {"c"}}))
		reg, _ := url.Parse(req.RedirectURI)
		if perr != nil || back.Scheme != reg.Scheme || back.Host != reg.Host || back.Path != reg.Path {
			t.Fatalf("response URL %v does not lead to %s", back, req.RedirectURI)
		}
	})
}
