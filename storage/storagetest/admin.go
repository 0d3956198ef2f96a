package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// pks lists the pks of users, in order.
func pks(us []storage.User) []int64 {
	out := make([]int64, len(us))
	for i, u := range us {
		out[i] = u.PK
	}
	return out
}

func testListUsers(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	var all []storage.User
	for i, name := range []string{"Alice", "alfred", "Ａｌｂｅｒｔ", "bob", "carol", "al%_x"} {
		u := newUser(fmt.Sprintf("u-list-%d", i), name, "")
		u.PK = int64(10 + i)
		switch name {
		case "bob":
			u.Email = "ALbert.bob@example.com"
		case "carol":
			u.Email = "carol@example.com"
		}
		mustCreateUser(t, s, u)
		all = append(all, u)
	}
	list := func(q storage.UserQuery) []int64 {
		t.Helper()
		us, err := s.ListUsers(ctx, q)
		if err != nil {
			t.Fatalf("ListUsers(%+v): %v", q, err)
		}
		return pks(us)
	}
	t.Run("every user in pk order, page by page", func(t *testing.T) {
		var got []int64
		after := int64(0)
		for range 10 {
			page := list(storage.UserQuery{AfterPK: after, Limit: 4})
			if len(page) > 4 {
				t.Fatalf("page of %d users, limit 4", len(page))
			}
			got = append(got, page...)
			if len(page) < 4 {
				break
			}
			after = page[len(page)-1]
		}
		if want := pks(all); !slices.Equal(got, want) {
			t.Errorf("pages = %v, want %v", got, want)
		}
		us, err := s.ListUsers(ctx, storage.UserQuery{Limit: 1})
		if err != nil || len(us) != 1 {
			t.Fatalf("ListUsers(limit 1) = %v, %v", us, err)
		}
		checkEqual(t, "first user", us[0], all[0])
	})
	t.Run("prefix of the username or the email, by their keys", func(t *testing.T) {
		for _, tc := range []struct {
			prefix string
			want   []int64
		}{
			{"AL", []int64{10, 11, 12, 13, 15}}, // Ａｌｂｅｒｔ by its key; bob by his email
			{"alb", []int64{12, 13}},
			{"Ａｌｆ", []int64{11}},
			{"carol@", []int64{14}},
			{"al%", []int64{15}}, // no wildcard
			{"al_", nil},
			{"zed", nil},
			{"   ", nil},
		} {
			if got := list(storage.UserQuery{Prefix: tc.prefix, Limit: 100}); !slices.Equal(got, tc.want) {
				t.Errorf("prefix %q: pks %v, want %v", tc.prefix, got, tc.want)
			}
		}
		if got := list(storage.UserQuery{Prefix: "al", AfterPK: 11, Limit: 2}); !slices.Equal(got, []int64{12, 13}) {
			t.Errorf("prefix al after 11, limit 2: pks %v, want [12 13]", got)
		}
	})
	t.Run("limit below 1", func(t *testing.T) {
		if _, err := s.ListUsers(ctx, storage.UserQuery{}); err == nil {
			t.Error("ListUsers with limit 0: no error")
		}
	})
}

func testDeleteUser(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("u-del", "leaver", "leaver@example.com")
	other := newUser("u-stay", "stayer", "stayer@example.com")
	mustCreateUser(t, s, u)
	mustCreateUser(t, s, other)
	live := newSession("s-del-live", u.ID, at(0))
	ended := newSession("s-del-ended", u.ID, at(0))
	expired := newSession("s-del-expired", u.ID, at(0))
	expired.ExpiresAt = at(time.Minute)
	mustCreateSession(t, s, live, "rt-del-live")
	mustCreateSession(t, s, ended, "")
	mustCreateSession(t, s, expired, "rt-del-expired")
	if err := s.EndSession(ctx, ended.ID, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	keep := newSession("s-stay", other.ID, at(0))
	mustCreateSession(t, s, keep, "rt-stay")
	mustCreateOneTimeToken(t, s, newOneTimeToken("ott-del", storage.PurposeReset, u.ID, at(0)))
	mustCreateOneTimeToken(t, s, newOneTimeToken("ott-stay", storage.PurposeReset, other.ID, at(0)))
	mustCreateAuthCode(t, s, newAuthCode("code-del", u.ID, at(0)))
	mustCreateAuthCode(t, s, newAuthCode("code-stay", other.ID, at(0)))

	now := at(time.Hour)
	gone, err := s.DeleteUser(ctx, u.ID, now)
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	checkIDs(t, "live sessions of the deleted user", gone, []string{live.ID})

	_, err = s.GetUser(ctx, u.ID)
	checkErr(t, "GetUser after DeleteUser", err, storage.ErrNotFound)
	_, err = s.GetUserByUsername(ctx, u.Username)
	checkErr(t, "GetUserByUsername after DeleteUser", err, storage.ErrNotFound)
	_, err = s.GetUserByEmail(ctx, u.Email)
	checkErr(t, "GetUserByEmail after DeleteUser", err, storage.ErrNotFound)
	for _, id := range []string{live.ID, ended.ID, expired.ID} {
		_, err := s.GetSession(ctx, id)
		checkErr(t, "GetSession("+id+")", err, storage.ErrNotFound)
	}
	// The refresh families lived in those sessions' rows.
	_, _, err = s.GetSessionAndUser(ctx, live.ID)
	checkErr(t, "GetSessionAndUser of a deleted session", err, storage.ErrNotFound)
	_, err = s.GetOneTimeToken(ctx, "ott-del", storage.PurposeReset, at(time.Second))
	checkErr(t, "GetOneTimeToken of the deleted user", err, storage.ErrNotFound)
	_, err = s.GetAuthCode(ctx, "code-del")
	checkErr(t, "GetAuthCode of the deleted user", err, storage.ErrNotFound)

	// The other user keeps everything.
	checkEqual(t, "other user", mustGetUser(t, s, other.ID), other)
	mustGetSession(t, s, keep.ID)
	checkFamiliesLive(t, s, keep.ID)
	if _, err := s.GetOneTimeToken(ctx, "ott-stay", storage.PurposeReset, at(time.Second)); err != nil {
		t.Errorf("other user's one-time token: %v", err)
	}
	mustGetAuthCode(t, s, "code-stay")

	// The name and the address are free again.
	again := newUser("u-del-2", "Leaver", "LEAVER@example.com")
	mustCreateUser(t, s, again)

	_, err = s.DeleteUser(ctx, u.ID, now)
	checkErr(t, "second DeleteUser", err, storage.ErrNotFound)
}

// newClient is a confidential client with every field set.
func newClient(id string, created time.Time) storage.Client {
	return storage.Client{
		ID:                     id,
		Name:                   "Client " + id,
		SecretHash:             []byte("0123456789abcdef0123456789abcdef"),
		Grants:                 []string{"authorization_code", "refresh_token"},
		Scopes:                 []string{"openid", "profile"},
		RedirectURIs:           []string{"https://app.example.com/cb", "com.example.app:/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example.com/"},
		CreatedAt:              created,
		UpdatedAt:              created,
	}
}

func testClients(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	if cs, err := s.ListClients(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("ListClients on an empty store = %v, %v", cs, err)
	}
	b := newClient("b-app", at(0))
	a := newClient("a-app", at(time.Second))
	pub := storage.Client{ID: "c-spa", Public: true, Grants: []string{"authorization_code"}, CreatedAt: at(0), UpdatedAt: at(0)}
	for _, c := range []storage.Client{b, a, pub} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatalf("CreateClient(%q): %v", c.ID, err)
		}
	}
	checkErr(t, "CreateClient with a taken id", s.CreateClient(ctx, newClient("a-app", at(0))), storage.ErrAlreadyExists)

	got, err := s.GetClient(ctx, "a-app")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	checkEqual(t, "GetClient", got, a)
	got, err = s.GetClient(ctx, "c-spa")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	checkEqual(t, "GetClient(public)", got, pub)
	_, err = s.GetClient(ctx, "nope")
	checkErr(t, "GetClient(unknown)", err, storage.ErrNotFound)

	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []string{"a-app", "b-app", "c-spa"}) {
		t.Errorf("ListClients ids = %q, want by id", ids)
	}

	t.Run("update", func(t *testing.T) {
		now := at(time.Hour)
		up, err := s.UpdateClient(ctx, "a-app", now, func(c *storage.Client) error {
			c.ID, c.CreatedAt = "hijack", at(-time.Hour) // kept whatever fn does
			c.Name = "Renamed"
			c.SecretHash = []byte("fedcba9876543210fedcba9876543210")
			c.Scopes = nil
			c.RedirectURIs = append(c.RedirectURIs, "https://app.example.com/cb2")
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateClient: %v", err)
		}
		want := a
		want.Name, want.SecretHash, want.Scopes, want.UpdatedAt = "Renamed", []byte("fedcba9876543210fedcba9876543210"), nil, now
		want.RedirectURIs = []string{"https://app.example.com/cb", "com.example.app:/cb", "https://app.example.com/cb2"}
		checkEqual(t, "UpdateClient result", up, want)
		stored, err := s.GetClient(ctx, "a-app")
		if err != nil {
			t.Fatal(err)
		}
		checkEqual(t, "GetClient after UpdateClient", stored, want)
		_, err = s.GetClient(ctx, "hijack")
		checkErr(t, "GetClient(hijack)", err, storage.ErrNotFound)

		_, err = s.UpdateClient(ctx, "a-app", now, func(c *storage.Client) error { c.Name = "lost"; return errBoom })
		checkErr(t, "UpdateClient with a failing fn", err, errBoom)
		if stored, _ := s.GetClient(ctx, "a-app"); stored.Name != "Renamed" {
			t.Errorf("a failed update wrote the name %q", stored.Name)
		}
		_, err = s.UpdateClient(ctx, "nope", now, func(*storage.Client) error { return nil })
		checkErr(t, "UpdateClient(unknown)", err, storage.ErrNotFound)
	})
	t.Run("delete", func(t *testing.T) {
		if err := s.DeleteClient(ctx, "b-app"); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		_, err := s.GetClient(ctx, "b-app")
		checkErr(t, "GetClient after DeleteClient", err, storage.ErrNotFound)
		checkErr(t, "second DeleteClient", s.DeleteClient(ctx, "b-app"), storage.ErrNotFound)
		if err := s.CreateClient(ctx, newClient("b-app", at(0))); err != nil {
			t.Errorf("CreateClient after DeleteClient: %v", err)
		}
	})
}
