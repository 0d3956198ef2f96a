package token

import (
	"slices"
	"strings"

	"github.com/authd/authd/errs"
)

// ParseScope splits a scope parameter (RFC 6749 §3.3: space-delimited,
// case-sensitive) and drops duplicates, keeping order.
func ParseScope(s string) []string {
	var out []string
	for f := range strings.FieldsSeq(s) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// GrantScope decides the scope of a grant: the requested scope, which must
// lie within allowed; or all of allowed when none is requested (RFC 6749
// §3.3 lets the server apply a default).
func GrantScope(requested string, allowed []string) ([]string, error) {
	if strings.TrimSpace(requested) == "" {
		return slices.Clone(allowed), nil
	}
	req := ParseScope(requested)
	for _, s := range req {
		if !slices.Contains(allowed, s) {
			return nil, errs.OAuth("invalid_scope", "scope %q is not allowed", s)
		}
	}
	return req, nil
}
