package server

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/config"
	"github.com/authd/authd/password"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
)

// A login whose password check raced a reset (or a disable) must not
// leave a session behind: confirmSession ends it.
func TestConfirmSessionAfterCredentialsChanged(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"), sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	km, err := keys.NewManager(ctx, db, keys.Options{Algorithm: keys.EdDSA, MaxTokenTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h, err := password.New(password.Options{Params: password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Options{Config: cfg, Store: db, Keys: km, Hasher: h})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	u := storage.User{ID: "u_1", Username: "racer", PasswordHash: "$argon2id$new", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		checked storage.User // what the login verified
		disable bool
		wantErr bool
	}{
		{"unchanged", u, false, false},
		{"password changed while hashing", storage.User{ID: u.ID, PasswordHash: "$argon2id$old"}, false, true},
		{"disabled while hashing", u, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.disable {
				if _, err := db.SetDisabled(ctx, u.ID, true, now); err != nil {
					t.Fatal(err)
				}
			}
			sid := randomToken(16)
			sess := storage.Session{ID: sid, UserID: u.ID, ClientID: "c", AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := db.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
			err := s.confirmSession(ctx, tc.checked, sid)
			got, gerr := db.GetSession(ctx, sid)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tc.wantErr {
				if !errors.Is(err, errBadCredentials) || got.EndedAt.IsZero() {
					t.Errorf("confirmSession = %v, session ended %v; want errBadCredentials and an ended session", err, !got.EndedAt.IsZero())
				}
				if !s.revoked.dead(sid, "") {
					t.Error("the ended session is not in the revocation view")
				}
				return
			}
			if err != nil || !got.EndedAt.IsZero() {
				t.Errorf("confirmSession = %v, session ended %v; want nil and a live session", err, !got.EndedAt.IsZero())
			}
		})
	}
}
