package oauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "a.db"), sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

var configured = []config.Client{
	{ID: "web", Secret: "web-secret-0123456789", Grants: []string{"client_credentials"}, Scopes: []string{"api"}},
}

func newRegistry(t *testing.T, db storage.ClientStore, clk *fakeClock) *Clients {
	t.Helper()
	cs := NewClients(configured)
	if err := cs.UseStore(t.Context(), StoreOptions{Store: db, Reserved: []string{"authd", "rest-auth"}, Now: clk.now}); err != nil {
		t.Fatal(err)
	}
	return cs
}

// authBasic authenticates with a client secret.
func authBasic(cs *Clients, id, secret string) (*Client, error) {
	return cs.Authenticate(Credentials{BasicID: url.QueryEscape(id), BasicSecret: url.QueryEscape(secret), HasBasic: true, Form: url.Values{}})
}

func wantKind(t *testing.T, what string, err error, kind errs.Kind, mention string) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok || e.Kind != kind {
		t.Fatalf("%s: err = %v, want kind %d", what, err, kind)
	}
	text := e.Description
	for k, v := range e.Fields {
		text += " " + k + ": " + v
	}
	if !strings.Contains(text, mention) {
		t.Errorf("%s: %q does not mention %q", what, text, mention)
	}
}

func TestRegistryStoredClients(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	cs := newRegistry(t, db, clk)

	c, secret, err := cs.Create(ctx, ClientSpec{ID: "batch", Name: "Batch jobs", Grants: []string{"client_credentials"}, Scopes: []string{"api"}}, "admin-cli")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if c.Source != SourceDatabase || c.Name != "Batch jobs" || len(secret) < 40 {
		t.Errorf("created %+v with secret of %d characters", c, len(secret))
	}
	row, err := db.GetClient(ctx, "batch")
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(secret)); string(row.SecretHash) != string(sum[:]) {
		t.Errorf("stored secret hash is not SHA-256 of the secret")
	}
	if got, err := authBasic(cs, "batch", secret); err != nil || got.ID != "batch" {
		t.Fatalf("Authenticate with the new secret: %v", err)
	}
	if _, err := authBasic(cs, "batch", secret+"x"); err == nil {
		t.Error("Authenticate with a wrong secret succeeded")
	}

	// Another process (a second registry on the same database) sees the
	// client once its copy is older than the TTL.
	other := newRegistry(t, db, clk)
	pub, _, err := cs.Create(ctx, ClientSpec{ID: "spa", Public: true, Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://spa.example.com/cb"}}, "admin-cli")
	if err != nil {
		t.Fatalf("Create public: %v", err)
	}
	if _, ok := other.Get(pub.ID); ok {
		t.Error("the other registry saw the new client before its TTL ran out")
	}
	gen := other.Generation()
	clk.add(DefaultClientsTTL + time.Second)
	if _, ok := other.Get(pub.ID); !ok {
		t.Error("the other registry does not see the new client after its TTL")
	}
	if other.Generation() == gen {
		t.Error("Generation did not change with a new reading")
	}
	if ids := cs.IDs(); strings.Join(ids, ",") != "batch,spa,web" {
		t.Errorf("IDs = %v", ids)
	}

	t.Run("rotate secret", func(t *testing.T) {
		fresh, err := cs.RotateSecret(ctx, "batch", "admin-cli")
		if err != nil {
			t.Fatalf("RotateSecret: %v", err)
		}
		if _, err := authBasic(cs, "batch", secret); err == nil {
			t.Error("the old secret still works")
		}
		if _, err := authBasic(cs, "batch", fresh); err != nil {
			t.Errorf("the new secret: %v", err)
		}
		_, err = cs.RotateSecret(ctx, "spa", "admin-cli")
		wantKind(t, "RotateSecret of a public client", err, errs.Conflict, "public")
	})
	t.Run("update", func(t *testing.T) {
		name := "Nightly batch"
		scopes := []string{"api", "api.read"}
		up, err := cs.Update(ctx, "batch", ClientPatch{Name: &name, Scopes: &scopes}, "admin-cli")
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if got, _ := cs.Get("batch"); got.DisplayName() != name || len(got.Scopes) != 2 || up.Name != name {
			t.Errorf("after Update: %+v", got)
		}
		bad := []string{"password", "nonsense"}
		_, err = cs.Update(ctx, "batch", ClientPatch{Grants: &bad}, "admin-cli")
		wantKind(t, "Update with an unknown grant", err, errs.Invalid, "unknown grant")
		_, err = cs.Update(ctx, "ghost", ClientPatch{Name: &name}, "admin-cli")
		wantKind(t, "Update of an unknown client", err, errs.NotFound, "ghost")
	})
	t.Run("configured clients are read-only and win", func(t *testing.T) {
		_, _, err := cs.Create(ctx, ClientSpec{ID: "web", Grants: []string{"client_credentials"}}, "admin-cli")
		wantKind(t, "Create with a configured id", err, errs.Conflict, "configuration file")
		name := "x"
		_, err = cs.Update(ctx, "web", ClientPatch{Name: &name}, "admin-cli")
		wantKind(t, "Update of a configured client", err, errs.Conflict, "configuration file")
		wantKind(t, "Delete of a configured client", cs.Delete(ctx, "web", "admin-cli"), errs.Conflict, "configuration file")
		_, err = cs.RotateSecret(ctx, "web", "admin-cli")
		wantKind(t, "RotateSecret of a configured client", err, errs.Conflict, "configuration file")

		// A row with a configured id (written by hand, or before the
		// configuration named it) is listed as shadowed and never served.
		h := sha256.Sum256([]byte("shadow secret 0123456789"))
		if err := db.CreateClient(ctx, storage.Client{ID: "web", SecretHash: h[:], Grants: []string{"client_credentials"}, CreatedAt: clk.now(), UpdatedAt: clk.now()}); err != nil {
			t.Fatal(err)
		}
		clk.add(DefaultClientsTTL + time.Second)
		if got, _ := cs.Get("web"); got.Source != SourceConfig {
			t.Errorf("Get(web) serves the %s client", got.Source)
		}
		if _, err := authBasic(cs, "web", "shadow secret 0123456789"); err == nil {
			t.Error("the shadowed client's secret authenticates")
		}
		list, err := cs.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var shadowed int
		for _, e := range list {
			if e.ID == "web" && e.Shadowed && e.Source == SourceDatabase {
				shadowed++
			}
		}
		if shadowed != 1 || len(list) != 4 {
			t.Errorf("List = %d entries, %d shadowed web rows; want 4 and 1", len(list), shadowed)
		}
	})
	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct {
			spec    ClientSpec
			mention string
		}{
			{ClientSpec{ID: "p", Public: true, Grants: []string{"client_credentials"}}, "public client cannot use client_credentials"},
			{ClientSpec{ID: "authd", Grants: []string{"client_credentials"}}, "reserved"},
			{ClientSpec{ID: "rest-auth", Grants: []string{"client_credentials"}}, "reserved"},
			{ClientSpec{ID: "has space", Grants: []string{"client_credentials"}}, "printable ASCII"},
			{ClientSpec{ID: "code", Grants: []string{"authorization_code"}}, "redirect URI"},
			{ClientSpec{ID: "nogrant"}, "at least one grant"},
			{ClientSpec{ID: "uri", Grants: []string{"authorization_code"}, RedirectURIs: []string{"/relative"}}, "absolute URI"},
		} {
			_, _, err := cs.Create(ctx, tc.spec, "admin-cli")
			wantKind(t, "Create "+tc.spec.ID, err, errs.Invalid, tc.mention)
		}
		_, _, err := cs.Create(ctx, ClientSpec{ID: "batch", Grants: []string{"client_credentials"}}, "admin-cli")
		wantKind(t, "Create with a taken id", err, errs.Conflict, "taken")
	})
	t.Run("delete", func(t *testing.T) {
		if err := cs.Delete(ctx, "spa", "admin-cli"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, ok := cs.Get("spa"); ok {
			t.Error("a deleted client is still served")
		}
		wantKind(t, "second Delete", cs.Delete(ctx, "spa", "admin-cli"), errs.NotFound, "spa")
		if _, err := cs.Lookup(ctx, "spa"); err == nil {
			t.Error("Lookup finds a deleted client")
		}
	})
}

// Readers racing reloads and changes always see a whole copy: a client
// is found by every reader once created, and never half-read (run with
// -race).
func TestRegistryConcurrentReads(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	clk := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	cs := newRegistry(t, db, clk)
	_, secret, err := cs.Create(ctx, ClientSpec{ID: "c0", Grants: []string{"client_credentials"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if g == 0 && i%20 == 0 {
					clk.add(DefaultClientsTTL) // every reader may reload now
				}
				if _, err := authBasic(cs, "c0", secret); err != nil {
					t.Errorf("Authenticate(c0): %v", err)
					return
				}
				_ = cs.IDs()
				_ = cs.Generation()
			}
		})
	}
	for i := range 10 {
		if _, _, err := cs.Create(ctx, ClientSpec{ID: fmt.Sprintf("n%d", i), Public: true, Grants: []string{"password"}}, "test"); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	if n := len(cs.IDs()); n != 12 {
		t.Errorf("%d clients, want 12", n)
	}
}
