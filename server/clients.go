package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/authd/authd/config"
)

// client is an OAuth client as the server holds it: its secret only as a
// hash.
type client struct {
	id     string
	public bool
	// secretHash is SHA-256 of the secret. Client secrets are high-entropy
	// strings chosen by operators, not passwords, so a fast hash is enough
	// to keep them out of memory dumps, and it keeps authentication cheap.
	secretHash             [32]byte
	grants                 []string
	scopes                 []string
	redirectURIs           []string
	postLogoutRedirectURIs []string
}

func (c *client) allows(grant string) bool { return slices.Contains(c.grants, grant) }

// clients is the client registry, read-only after start-up.
type clients map[string]*client

func newClients(cfg []config.Client) clients {
	m := make(clients, len(cfg))
	for _, c := range cfg {
		m[c.ID] = &client{
			id:                     c.ID,
			public:                 c.Public,
			secretHash:             sha256.Sum256([]byte(c.Secret)),
			grants:                 slices.Clone(c.Grants),
			scopes:                 slices.Clone(c.Scopes),
			redirectURIs:           slices.Clone(c.RedirectURIs),
			postLogoutRedirectURIs: slices.Clone(c.PostLogoutRedirectURIs),
		}
	}
	return m
}

// clientChallenge is sent with 401 invalid_client (RFC 6749 §5.2).
const clientChallenge = `Basic realm="authd", charset="UTF-8"`

func invalidClient(desc string) *OAuthError {
	return &OAuthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: desc, Challenge: clientChallenge}
}

// authenticate identifies the client of a token, revocation or
// introspection request (RFC 6749 §2.3.1): client_secret_basic,
// client_secret_post, or client_id alone for a public client.
// Credentials in both the header and the body are refused (§2.3: "MUST NOT
// use more than one authentication method in each request").
func (cs clients) authenticate(r *http.Request, form url.Values) (*client, error) {
	user, pass, hasBasic := r.BasicAuth()
	if h := r.Header.Get("Authorization"); h != "" && !hasBasic {
		return nil, invalidClient("unsupported Authorization header; use HTTP Basic with the client credentials")
	}
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	var id, secret string
	var hasSecret bool
	switch {
	case hasBasic && (form.Has("client_secret") || (formID != "" && formID != unescapeBasic(user))):
		return nil, oauthErr("invalid_request", "client credentials given both in the Authorization header and in the body")
	case hasBasic:
		// RFC 6749 §2.3.1: the id and secret are form-urlencoded before
		// they are put in the Basic header.
		id, secret, hasSecret = unescapeBasic(user), unescapeBasic(pass), true
	case form.Has("client_secret"):
		id, secret, hasSecret = formID, formSecret, true
	default:
		id = formID
	}
	if id == "" {
		return nil, invalidClient("client authentication required")
	}
	got := sha256.Sum256([]byte(secret))
	c, ok := cs[id]
	if !ok {
		return nil, invalidClient("unknown client or wrong credentials")
	}
	if c.public {
		if hasSecret && secret != "" {
			return nil, invalidClient("a public client has no secret")
		}
		return c, nil
	}
	if !hasSecret {
		return nil, invalidClient("client authentication required")
	}
	if subtle.ConstantTimeCompare(got[:], c.secretHash[:]) != 1 {
		return nil, invalidClient("unknown client or wrong credentials")
	}
	return c, nil
}

func unescapeBasic(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// scopeList splits a scope parameter (RFC 6749 §3.3: space-delimited,
// case-sensitive) and drops duplicates, keeping order.
func scopeList(s string) []string {
	var out []string
	for f := range strings.FieldsSeq(s) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// grantScope decides the scope of a grant: the requested scope, which must
// lie within allowed; or all of allowed when none is requested (RFC 6749
// §3.3 lets the server apply a default).
func grantScope(requested string, allowed []string) ([]string, error) {
	if strings.TrimSpace(requested) == "" {
		return slices.Clone(allowed), nil
	}
	req := scopeList(requested)
	for _, s := range req {
		if !slices.Contains(allowed, s) {
			return nil, oauthErr("invalid_scope", "scope %q is not allowed", s)
		}
	}
	return req, nil
}
