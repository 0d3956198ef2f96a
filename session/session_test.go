package session_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
	"github.com/authd/authd/token"
)

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"), sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// A login whose password check raced a reset (or a disable) must not
// leave a session behind: Start ends it and fails.
func TestStartAfterCredentialsChanged(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	view := token.NewView(time.Hour, time.Minute)
	s := session.New(db, view, audit.New(nil), nil)
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
			sid := token.Random(16)
			sess := storage.Session{ID: sid, UserID: u.ID, ClientID: "c", AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
			err := s.Start(ctx, sess, tc.checked)
			got, gerr := db.GetSession(ctx, sid)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tc.wantErr {
				if !errors.Is(err, session.ErrCredentialsChanged) || got.EndedAt.IsZero() {
					t.Errorf("Start = %v, session ended %v; want ErrCredentialsChanged and an ended session", err, !got.EndedAt.IsZero())
				}
				if !view.Dead(sid, "") {
					t.Error("the ended session is not in the revocation view")
				}
				return
			}
			if err != nil || !got.EndedAt.IsZero() {
				t.Errorf("Start = %v, session ended %v; want nil and a live session", err, !got.EndedAt.IsZero())
			}
		})
	}
}

// EndAll ends every live session but the one kept, and records each in the
// view and the audit log.
func TestEndAll(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	view := token.NewView(time.Hour, time.Minute)
	var events []string
	s := session.New(db, view, audit.New(nil, func(e string, _ []any) { events = append(events, e) }), nil)
	now := time.Now().UTC()
	u := storage.User{ID: "u_2", Username: "many", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		sess := storage.Session{ID: token.Random(16), UserID: u.ID, ClientID: "c", AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := db.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sess.ID)
	}
	if err := s.EndAll(ctx, u.ID, ids[0], "test"); err != nil {
		t.Fatal(err)
	}
	if view.Dead(ids[0], "") || !view.Dead(ids[1], "") || !view.Dead(ids[2], "") {
		t.Errorf("view: kept dead=%v, others dead=%v,%v; want false, true, true", view.Dead(ids[0], ""), view.Dead(ids[1], ""), view.Dead(ids[2], ""))
	}
	if len(events) != 2 {
		t.Errorf("audit events %v, want two session.revoked", events)
	}
}
