package oauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/config"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/token"
)

// Where a client is defined.
const (
	// SourceConfig: the configuration file. Such a client cannot be changed
	// or deleted at run time.
	SourceConfig = "config"
	// SourceDatabase: registered at run time (admin API, CLI).
	SourceDatabase = "database"
)

// ScopeAdmin is the scope of the admin API's access tokens: a confidential
// client given it may manage users, sessions, clients and keys.
const ScopeAdmin = "admin"

// DefaultClientsTTL is how long the registry serves its copy of the stored
// clients before it reads them again: how soon a server sees a client that
// another process (the CLI, another server) registered, changed or deleted.
// Changes made through this registry are seen at once.
const DefaultClientsTTL = 5 * time.Second

// StoreOptions connect a registry to the database.
type StoreOptions struct {
	Store storage.ClientStore
	// TTL of the copy of the stored clients; 0 means DefaultClientsTTL.
	TTL time.Duration
	// Reserved are client ids no stored client may take (the id of
	// browser sign-ins, the client id of the Django-era paths).
	Reserved []string
	Audit    *audit.Log
	Log      *slog.Logger
	Now      func() time.Time
}

// dbClients is the registry's copy of the stored clients.
type dbClients struct {
	StoreOptions
	// reloading is held by the one goroutine that reads the store.
	reloading sync.Mutex
	snap      atomic.Pointer[dbSnapshot]
	gen       atomic.Uint64
}

// dbSnapshot is one reading of the stored clients.
type dbSnapshot struct {
	byID   map[string]*Client
	loaded time.Time
	gen    uint64
}

// UseStore makes the registry serve the clients stored in the database too,
// and manage them (Create, Update, Delete, RotateSecret). It reads them
// once now; a failure is returned and the registry keeps serving the
// configured clients alone until a later reading succeeds.
func (cs *Clients) UseStore(ctx context.Context, o StoreOptions) error {
	if o.TTL <= 0 {
		o.TTL = DefaultClientsTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	d := &dbClients{StoreOptions: o}
	d.snap.Store(&dbSnapshot{byID: map[string]*Client{}})
	cs.db = d
	return d.reload(ctx)
}

// Generation changes whenever the set of clients may have changed (a new
// reading of the store), for callers that cache what they derive from it.
func (cs *Clients) Generation() uint64 {
	if cs.db == nil {
		return 0
	}
	return cs.db.current().gen
}

// current returns the copy of the stored clients, read again first when it
// is older than the TTL. One caller reads while the others go on with the
// copy they have; a failed reading is logged, and the old copy serves one
// more TTL.
func (d *dbClients) current() *dbSnapshot {
	s := d.snap.Load()
	if d.Now().Sub(s.loaded) < d.TTL || !d.reloading.TryLock() {
		return s
	}
	defer d.reloading.Unlock()
	if s = d.snap.Load(); d.Now().Sub(s.loaded) < d.TTL {
		return s // another caller has just read them
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := d.load(ctx); err != nil {
		d.Log.Warn("reading the stored clients failed; serving the previous copy", "error", err)
		d.snap.Store(&dbSnapshot{byID: s.byID, loaded: d.Now(), gen: s.gen})
	}
	return d.snap.Load()
}

// reload reads the stored clients now.
func (d *dbClients) reload(ctx context.Context) error {
	d.reloading.Lock()
	defer d.reloading.Unlock()
	return d.load(ctx)
}

// load reads the stored clients; the caller holds reloading.
func (d *dbClients) load(ctx context.Context) error {
	rows, err := d.Store.ListClients(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]*Client, len(rows))
	for _, r := range rows {
		m[r.ID] = fromStored(r)
	}
	d.snap.Store(&dbSnapshot{byID: m, loaded: d.Now(), gen: d.gen.Add(1)})
	return nil
}

// fromStored is a stored client as the registry serves it.
func fromStored(r storage.Client) *Client {
	c := &Client{
		ID: r.ID, Name: r.Name, Public: r.Public, Grants: r.Grants, Scopes: r.Scopes,
		RedirectURIs: r.RedirectURIs, PostLogoutRedirectURIs: r.PostLogoutRedirectURIs,
		Source: SourceDatabase, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if len(r.SecretHash) == len(c.secretHash) {
		copy(c.secretHash[:], r.SecretHash)
	} else if !r.Public {
		// No usable hash: no secret can match it.
		c.secretHash = sha256.Sum256([]byte(token.Random(32)))
	}
	return c
}

// ClientSpec is what an operator sets of a new client.
type ClientSpec struct {
	ID                     string
	Name                   string
	Public                 bool
	Grants                 []string
	Scopes                 []string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
}

// ClientPatch changes a stored client; nil fields stay as they are.
// Whether a client is public cannot change: register a new client instead.
type ClientPatch struct {
	Name                   *string
	Grants                 *[]string
	Scopes                 *[]string
	RedirectURIs           *[]string
	PostLogoutRedirectURIs *[]string
}

// ClientEntry is one client as an operator lists it.
type ClientEntry struct {
	*Client
	// Shadowed: a stored client whose id a configured client also has; the
	// configured one is served.
	Shadowed bool
}

var errNoStore = errs.New(errs.Unavailable, "temporarily_unavailable", "clients cannot be managed: no database is attached")

// errNoClient answers a client id that names no client.
func errNoClient(id string) error {
	return errs.New(errs.NotFound, "not_found", fmt.Sprintf("no client %q", id))
}

// errConfigured refuses to change a client of the configuration file.
func errConfigured(id string) error {
	return &errs.Error{Kind: errs.Conflict, Code: "conflict",
		Description: fmt.Sprintf("client %q is defined in the configuration file, which is read-only at run time: change it there and restart authd", id)}
}

// check validates a client by the rules of the configuration file, and
// that its id is free of the reserved ones.
func (cs *Clients) check(spec ClientSpec) error {
	cc := config.Client{
		ID: spec.ID, Name: spec.Name, Public: spec.Public, Grants: spec.Grants, Scopes: spec.Scopes,
		RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs,
	}
	if !spec.Public {
		cc.Secret = "a secret of the right length" // generated, never chosen: not checked here
	}
	fields := config.ClientProblems(cc)
	if slices.Contains(cs.db.Reserved, spec.ID) {
		fields["id"] = fmt.Sprintf("%q is reserved", spec.ID)
	}
	if len(fields) > 0 {
		return errs.InvalidFields(fields)
	}
	return nil
}

// newSecret returns a client secret and its SHA-256.
func newSecret() (string, []byte) {
	secret := token.Random(32)
	h := sha256.Sum256([]byte(secret))
	return secret, h[:]
}

// Create registers a client in the database (by names who does it, for
// the audit log). A confidential client gets a new secret, returned here
// once and stored only as its SHA-256.
func (cs *Clients) Create(ctx context.Context, spec ClientSpec, by string) (*Client, string, error) {
	if cs.db == nil {
		return nil, "", errNoStore
	}
	if err := cs.check(spec); err != nil {
		return nil, "", err
	}
	if _, ok := cs.byID[spec.ID]; ok {
		return nil, "", &errs.Error{Kind: errs.Conflict, Code: "conflict", Description: "a client with this id exists",
			Fields: map[string]string{"id": "is taken by a client of the configuration file"}}
	}
	now := cs.db.Now()
	row := storage.Client{
		ID: spec.ID, Name: spec.Name, Public: spec.Public, Grants: slices.Clone(spec.Grants), Scopes: slices.Clone(spec.Scopes),
		RedirectURIs: slices.Clone(spec.RedirectURIs), PostLogoutRedirectURIs: slices.Clone(spec.PostLogoutRedirectURIs),
		CreatedAt: now, UpdatedAt: now,
	}
	var secret string
	if !spec.Public {
		secret, row.SecretHash = newSecret()
	}
	if err := cs.db.Store.CreateClient(ctx, row); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return nil, "", &errs.Error{Kind: errs.Conflict, Code: "conflict", Description: "a client with this id exists",
				Fields: map[string]string{"id": "is already taken"}}
		}
		return nil, "", errs.Storage(err)
	}
	cs.changed(ctx)
	cs.db.Audit.Event(ctx, "client.created", "client_id", row.ID, "by", by)
	stored, err := cs.db.Store.GetClient(ctx, row.ID)
	if err != nil {
		return fromStored(row), secret, nil
	}
	return fromStored(stored), secret, nil
}

// changed reads the stored clients again after a change made here, so this
// process serves it at once. A failure only delays it to the next reading.
func (cs *Clients) changed(ctx context.Context) {
	if err := cs.db.reload(ctx); err != nil {
		cs.db.Log.Warn("reading the stored clients after a change failed", "error", err)
	}
}

// List lists every client, the configured ones and the stored ones (read
// from the database now, not from the copy Get serves), by id, a configured
// client before a stored one it shadows.
func (cs *Clients) List(ctx context.Context) ([]ClientEntry, error) {
	var out []ClientEntry
	for _, id := range cs.configIDs() {
		out = append(out, ClientEntry{Client: cs.byID[id]})
	}
	if cs.db != nil {
		rows, err := cs.db.Store.ListClients(ctx)
		if err != nil {
			return nil, errs.Storage(err)
		}
		for _, r := range rows {
			_, shadowed := cs.byID[r.ID]
			out = append(out, ClientEntry{Client: fromStored(r), Shadowed: shadowed})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Lookup returns the client with this id as it is served: the configured
// one, else the stored one read from the database now. errs NotFound when
// there is none.
func (cs *Clients) Lookup(ctx context.Context, id string) (*Client, error) {
	if c, ok := cs.byID[id]; ok {
		return c, nil
	}
	if cs.db == nil {
		return nil, errNoClient(id)
	}
	r, err := cs.db.Store.GetClient(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, errNoClient(id)
	case err != nil:
		return nil, errs.Storage(err)
	}
	return fromStored(r), nil
}

// stored checks that id names a client this registry may change: a stored
// client that no configured client shadows.
func (cs *Clients) stored(id string) error {
	if _, ok := cs.byID[id]; ok {
		return errConfigured(id)
	}
	if cs.db == nil {
		return errNoClient(id)
	}
	return nil
}

// Update changes a stored client; the result is checked by the same rules
// as a new one.
func (cs *Clients) Update(ctx context.Context, id string, p ClientPatch, by string) (*Client, error) {
	if err := cs.stored(id); err != nil {
		return nil, err
	}
	var invalid error
	row, err := cs.db.Store.UpdateClient(ctx, id, cs.db.Now(), func(c *storage.Client) error {
		set := func(dst *[]string, v *[]string) {
			if v != nil {
				*dst = slices.Clone(*v)
			}
		}
		if p.Name != nil {
			c.Name = *p.Name
		}
		set(&c.Grants, p.Grants)
		set(&c.Scopes, p.Scopes)
		set(&c.RedirectURIs, p.RedirectURIs)
		set(&c.PostLogoutRedirectURIs, p.PostLogoutRedirectURIs)
		invalid = cs.check(ClientSpec{ID: c.ID, Name: c.Name, Public: c.Public, Grants: c.Grants, Scopes: c.Scopes,
			RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs})
		return invalid
	})
	switch {
	case invalid != nil:
		return nil, invalid
	case errors.Is(err, storage.ErrNotFound):
		return nil, errNoClient(id)
	case err != nil:
		return nil, errs.Storage(err)
	}
	cs.changed(ctx)
	cs.db.Audit.Event(ctx, "client.updated", "client_id", id, "by", by)
	return fromStored(row), nil
}

// Delete deletes a stored client. Its refresh tokens stop working at once
// (the refresh grant authenticates the client first); access tokens already
// issued to it live out their short lifetime.
func (cs *Clients) Delete(ctx context.Context, id, by string) error {
	if err := cs.stored(id); err != nil {
		return err
	}
	err := cs.db.Store.DeleteClient(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return errNoClient(id)
	case err != nil:
		return errs.Storage(err)
	}
	cs.changed(ctx)
	cs.db.Audit.Event(ctx, "client.deleted", "client_id", id, "by", by)
	return nil
}

// RotateSecret gives a stored confidential client a new secret, returned
// here once; the old one stops working at once in this process, and within
// the registry's TTL in others.
func (cs *Clients) RotateSecret(ctx context.Context, id, by string) (string, error) {
	if err := cs.stored(id); err != nil {
		return "", err
	}
	var secret string
	errPublic := &errs.Error{Kind: errs.Conflict, Code: "conflict", Description: fmt.Sprintf("client %q is public: it has no secret", id)}
	_, err := cs.db.Store.UpdateClient(ctx, id, cs.db.Now(), func(c *storage.Client) error {
		if c.Public {
			return errPublic
		}
		secret, c.SecretHash = newSecret()
		return nil
	})
	switch {
	case err == errPublic:
		return "", err
	case errors.Is(err, storage.ErrNotFound):
		return "", errNoClient(id)
	case err != nil:
		return "", errs.Storage(err)
	}
	cs.changed(ctx)
	cs.db.Audit.Event(ctx, "client.secret_rotated", "client_id", id, "by", by)
	return secret, nil
}
