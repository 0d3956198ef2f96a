package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/errs"
)

// Client is an OAuth client as the server holds it: its secret only as a
// hash.
type Client struct {
	ID     string
	Name   string // shown to people; the id when unset
	Public bool
	// secretHash is SHA-256 of the secret. Client secrets are high-entropy
	// strings chosen by operators, not passwords, so a fast hash is enough
	// to keep them out of memory dumps, and it keeps authentication cheap.
	secretHash             [32]byte
	Grants                 []string
	Scopes                 []string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// Source is where the client is defined: SourceConfig (read-only at
	// run time) or SourceDatabase.
	Source string
	// CreatedAt and UpdatedAt are set for database clients only.
	CreatedAt, UpdatedAt time.Time
}

// Allows reports whether the client may use grant.
func (c *Client) Allows(grant string) bool { return slices.Contains(c.Grants, grant) }

// DisplayName is what a person is shown for the client.
func (c *Client) DisplayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// Clients is the client registry: the clients of the configuration file,
// read-only after start-up, and, once UseStore is called, those registered
// at run time in the database (registry.go). A configured client wins over
// a stored one with the same id.
type Clients struct {
	byID map[string]*Client
	db   *dbClients // nil: configured clients only
}

// NewClients builds the registry from the configured clients.
func NewClients(cfg []config.Client) *Clients {
	m := make(map[string]*Client, len(cfg))
	for _, c := range cfg {
		m[c.ID] = &Client{
			ID:                     c.ID,
			Name:                   c.Name,
			Public:                 c.Public,
			secretHash:             sha256.Sum256([]byte(c.Secret)),
			Grants:                 slices.Clone(c.Grants),
			Scopes:                 slices.Clone(c.Scopes),
			RedirectURIs:           slices.Clone(c.RedirectURIs),
			PostLogoutRedirectURIs: slices.Clone(c.PostLogoutRedirectURIs),
			Source:                 SourceConfig,
		}
	}
	return &Clients{byID: m}
}

// Get returns the client with this id: a configured one, else a stored one
// as of the last reload (see UseStore).
func (cs *Clients) Get(id string) (*Client, bool) {
	if c, ok := cs.byID[id]; ok {
		return c, true
	}
	if cs.db == nil {
		return nil, false
	}
	c, ok := cs.db.current().byID[id]
	return c, ok
}

// IDs lists the ids of every client Get finds, sorted.
func (cs *Clients) IDs() []string {
	ids := cs.configIDs()
	if cs.db != nil {
		for id := range cs.db.current().byID {
			if _, ok := cs.byID[id]; !ok {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
	}
	return ids
}

// configIDs lists the ids of the configured clients, sorted.
func (cs *Clients) configIDs() []string {
	ids := make([]string, 0, len(cs.byID))
	for id := range cs.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Credentials are what a request presented to authenticate its client.
type Credentials struct {
	// BasicID and BasicSecret are the HTTP Basic credentials, as sent
	// (still form-urlencoded), when HasBasic.
	BasicID, BasicSecret string
	HasBasic             bool
	// OtherAuthorization is true when an Authorization header of another
	// scheme was sent.
	OtherAuthorization bool
	// Form is the request body.
	Form url.Values
}

// Authenticate identifies the client of a token, revocation or
// introspection request (RFC 6749 §2.3.1): client_secret_basic,
// client_secret_post, or client_id alone for a public client. Credentials
// in both the header and the body are refused (§2.3: "MUST NOT use more than
// one authentication method in each request").
func (cs *Clients) Authenticate(cr Credentials) (*Client, error) {
	if cr.OtherAuthorization {
		return nil, errs.InvalidClient("unsupported Authorization header; use HTTP Basic with the client credentials")
	}
	form := cr.Form
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	var id, secret string
	var hasSecret bool
	switch {
	case cr.HasBasic && (form.Has("client_secret") || (formID != "" && formID != unescapeBasic(cr.BasicID))):
		return nil, errs.OAuth("invalid_request", "client credentials given both in the Authorization header and in the body")
	case cr.HasBasic:
		// RFC 6749 §2.3.1: the id and secret are form-urlencoded before
		// they are put in the Basic header.
		id, secret, hasSecret = unescapeBasic(cr.BasicID), unescapeBasic(cr.BasicSecret), true
	case form.Has("client_secret"):
		id, secret, hasSecret = formID, formSecret, true
	default:
		id = formID
	}
	if id == "" {
		return nil, errs.InvalidClient("client authentication required")
	}
	got := sha256.Sum256([]byte(secret))
	c, ok := cs.Get(id)
	if !ok {
		return nil, errs.InvalidClient("unknown client or wrong credentials")
	}
	if c.Public {
		if hasSecret && secret != "" {
			return nil, errs.InvalidClient("a public client has no secret")
		}
		return c, nil
	}
	if !hasSecret {
		return nil, errs.InvalidClient("client authentication required")
	}
	if subtle.ConstantTimeCompare(got[:], c.secretHash[:]) != 1 {
		return nil, errs.InvalidClient("unknown client or wrong credentials")
	}
	return c, nil
}

func unescapeBasic(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
