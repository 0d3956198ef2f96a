package web

import (
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode"
)

// Rules of the pages that are not about HTML: where a form may send the
// browser back to, and the Content-Security-Policy.

// SafeNext returns next if it is a path of this server, or "" — never an
// absolute URL, a scheme-relative //host (which browsers resolve to another
// host), or a path with a backslash or control character (browsers read
// "/\evil" as "//evil" and drop tabs and newlines).
func SafeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' || strings.HasPrefix(next, "//") {
		return ""
	}
	if strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	clean := path.Clean(u.EscapedPath())
	if u.RawQuery != "" {
		clean += "?" + u.RawQuery
	}
	return clean
}

// ContentSecurityPolicy is the CSP of the pages: nothing but the embedded
// stylesheet loads, no script at all runs (inline or not), forms post only
// to authd and the redirect targets of the authorization and logout
// responses, and no one frames the pages.
//
// form-action lists the origins of every registered redirect URI because
// browsers apply it to the redirects that follow a form submission: the
// sign-in form's 303 to the client's redirect URI would otherwise be
// blocked. redirectTargets are the registered redirect URIs.
func ContentSecurityPolicy(redirectTargets []string) string {
	formAction := []string{"'self'"}
	for _, raw := range redirectTargets {
		if src := cspSource(raw); src != "" && !slices.Contains(formAction, src) {
			formAction = append(formAction, src)
		}
	}
	return strings.Join([]string{
		"default-src 'none'",
		"style-src 'self'",
		"img-src 'self'",
		"form-action " + strings.Join(formAction, " "),
		"frame-ancestors 'none'",
		"base-uri 'none'",
	}, "; ")
}

// cspSource is the CSP source expression that allows a redirect URI: its
// origin for http(s), its scheme for an app's private-use scheme (RFC 8252
// §7.1). "" for anything that cannot be written as one.
func cspSource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "http" || scheme == "https" {
		if u.Host == "" || strings.ContainsAny(u.Host, " ;,'") {
			return ""
		}
		return scheme + "://" + u.Host
	}
	return scheme + ":"
}
