package web

import (
	"net/url"
	"strings"
	"testing"
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
		got := SafeNext(next)
		if got == "" {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n") {
			t.Fatalf("SafeNext(%q) = %q", next, got)
		}
		// How a browser resolves the Location header.
		u, err := base.Parse(got)
		if err != nil {
			t.Fatalf("SafeNext(%q) = %q, which does not parse: %v", next, got, err)
		}
		if u.Host != base.Host || u.Scheme != base.Scheme {
			t.Fatalf("SafeNext(%q) = %q leads to %s", next, got, u)
		}
	})
}
