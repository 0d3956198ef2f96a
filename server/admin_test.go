package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authd/authd/storage"
)

// clientToken runs the client_credentials grant and returns the access
// token.
func (e *testEnv) clientToken(id, secret, scope string) string {
	e.t.Helper()
	r := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}},
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	if r.status != http.StatusOK {
		e.t.Fatalf("client_credentials for %s: %d %s", id, r.status, r.body)
	}
	return str(r.json(e.t), "access_token")
}

// adminToken is an access token of the test's admin client.
func (e *testEnv) adminToken() string {
	e.t.Helper()
	return e.clientToken(adminID, adminSec, "admin")
}

// admin calls the admin API with tok; body "" sends none.
func (e *testEnv) admin(tok, method, path, body string) response {
	e.t.Helper()
	if body == "" {
		return e.do(method, path, nil, "Authorization", "Bearer "+tok)
	}
	return e.postJSON(method, path, body, tok)
}

// audited reports whether the server logged an audit line of event with
// every one of the key=value pairs (text-handler syntax).
func (e *testEnv) audited(event string, kv ...string) bool {
	for line := range strings.SplitSeq(e.logs.String(), "\n") {
		if !strings.Contains(line, " msg=audit event="+event+" ") {
			continue
		}
		ok := true
		for _, p := range kv {
			ok = ok && strings.Contains(line, " "+p)
		}
		if ok {
			return true
		}
	}
	return false
}

// decode unmarshals a response body into v, failing on another status.
func decode(t *testing.T, r response, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
	}
	if cc := r.header.Get("Cache-Control"); r.status != http.StatusNoContent && cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

type adminUser struct {
	ID            string `json:"id"`
	PK            int64  `json:"pk"`
	Username      string `json:"username"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	FirstName     string `json:"first_name"`
	Disabled      bool   `json:"disabled"`
}

// adminRoutes lists a call of every route of the admin API but the
// document, for the authorization checks.
var adminCalls = [][2]string{
	{"GET", "/admin/v1/users"}, {"POST", "/admin/v1/users"},
	{"GET", "/admin/v1/users/u_x"}, {"PATCH", "/admin/v1/users/u_x"}, {"DELETE", "/admin/v1/users/u_x"},
	{"POST", "/admin/v1/users/u_x/password"}, {"POST", "/admin/v1/users/u_x/disable"}, {"POST", "/admin/v1/users/u_x/enable"},
	{"GET", "/admin/v1/users/u_x/sessions"}, {"DELETE", "/admin/v1/users/u_x/sessions"}, {"DELETE", "/admin/v1/users/u_x/sessions/s_x"},
	{"GET", "/admin/v1/clients"}, {"POST", "/admin/v1/clients"},
	{"GET", "/admin/v1/clients/x"}, {"PATCH", "/admin/v1/clients/x"}, {"DELETE", "/admin/v1/clients/x"},
	{"POST", "/admin/v1/clients/x/secret"},
	{"GET", "/admin/v1/keys"}, {"POST", "/admin/v1/keys/rotate"},
}

// Only a client's own token with the admin scope passes: no token is 401
// with a bare challenge; a user's token, even one from the admin client's
// grants, or a client token without the scope is 403 insufficient_scope.
func TestAdminAuthorization(t *testing.T) {
	e := newEnv(t)
	e.addUser("uma", "uma's long password")
	userTok := str(e.login(spaID, "uma", "uma's long password"), "access_token")
	svcTok := e.clientToken(svcID, svcSecret, "api")
	adminNoScope := e.clientToken(adminID, adminSec, "api") // the admin client, but not asking for admin
	for _, call := range adminCalls {
		method, path := call[0], call[1]
		t.Run(method+" "+path, func(t *testing.T) {
			r := e.do(method, path, nil)
			wantOAuthError(t, r, 401, "invalid_token")
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="authd"` {
				t.Errorf("no token: WWW-Authenticate = %q", got)
			}
			r = e.do(method, path, nil, "Authorization", "Bearer not-a-token")
			wantOAuthError(t, r, 401, "invalid_token")
			if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="authd", error="invalid_token"`) {
				t.Errorf("bad token: WWW-Authenticate = %q", got)
			}
			for name, tok := range map[string]string{"user token": userTok, "client without admin": svcTok, "admin client without the scope": adminNoScope} {
				r := e.do(method, path, nil, "Authorization", "Bearer "+tok)
				wantOAuthError(t, r, 403, "insufficient_scope")
				if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="authd", error="insufficient_scope", scope="admin"` {
					t.Errorf("%s: WWW-Authenticate = %q", name, got)
				}
			}
		})
	}
	// Refused calls are audited too, without a client.
	if !e.audited("admin.request", `by=""`, "method=GET", "route=/admin/v1/users", "status=401") {
		t.Errorf("no audit line for a refused admin call in the log")
	}

	// A stored client given the admin scope is an admin until the scope is
	// taken away: its token stops working at once.
	tok := e.adminToken()
	var created struct {
		ClientSecret string `json:"client_secret"`
	}
	decode(t, e.admin(tok, "POST", "/admin/v1/clients", `{"id":"ops2","grants":["client_credentials"],"scopes":["admin"]}`), 201, &created)
	ops2 := e.clientToken("ops2", created.ClientSecret, "admin")
	decode(t, e.admin(ops2, "GET", "/admin/v1/keys", ""), 200, nil)
	decode(t, e.admin(tok, "PATCH", "/admin/v1/clients/ops2", `{"scopes":["api"]}`), 200, nil)
	wantOAuthError(t, e.admin(ops2, "GET", "/admin/v1/keys", ""), 403, "insufficient_scope")
}

func TestAdminUsers(t *testing.T) {
	e := newEnv(t)
	tok := e.adminToken()

	// Create, with the whole password policy.
	wantFields(t, e.admin(tok, "POST", "/admin/v1/users", `{"username":"ann","password":"password123"}`), 400, "password")
	wantFields(t, e.admin(tok, "POST", "/admin/v1/users", `{"username":"ann","password":"ann ann ann ann"}`), 400, "password")
	var ann adminUser
	r := e.admin(tok, "POST", "/admin/v1/users", `{"username":"Ann","password":"a fine long password","email":"ann@example.com","first_name":"Ann","email_verified":true}`)
	decode(t, r, 201, &ann)
	if ann.Username != "Ann" || !ann.EmailVerified || ann.PK < 1 || !strings.HasPrefix(ann.ID, "u_") {
		t.Errorf("created %+v", ann)
	}
	if loc := r.header.Get("Location"); loc != "/admin/v1/users/"+ann.ID {
		t.Errorf("Location = %q", loc)
	}
	if strings.Contains(string(r.body), "argon2") || strings.Contains(string(r.body), "password_hash") {
		t.Errorf("the answer shows password material: %s", r.body)
	}
	wantFields(t, e.admin(tok, "POST", "/admin/v1/users", `{"username":"ANN","password":"another fine password"}`), 409, "username")
	wantFields(t, e.admin(tok, "POST", "/admin/v1/users", `{"username":"x","password":"another fine password","disabled":true}`), 400, "disabled")
	if !e.audited("user.created", "user_id="+ann.ID, "by="+adminID) {
		t.Error("no user.created audit line naming the admin client")
	}

	// Read, list and search.
	var got adminUser
	decode(t, e.admin(tok, "GET", "/admin/v1/users/"+ann.ID, ""), 200, &got)
	if got != ann {
		t.Errorf("GET = %+v, want %+v", got, ann)
	}
	wantOAuthError(t, e.admin(tok, "GET", "/admin/v1/users/u_nobody", ""), 404, "not_found")
	for _, name := range []string{"anna", "bob", "Annette", "carl"} {
		e.addUser(name, "some long password 1")
	}
	e.addUser("dora", "some long password 1", func(u *storage.User) { u.Email = "ANNIE@example.org" })
	var all []string
	cursor := ""
	for range 10 {
		var page struct {
			Users      []adminUser `json:"users"`
			NextCursor string      `json:"next_cursor"`
		}
		decode(t, e.admin(tok, "GET", "/admin/v1/users?limit=2&cursor="+url.QueryEscape(cursor), ""), 200, &page)
		if len(page.Users) > 2 {
			t.Fatalf("page of %d, limit 2", len(page.Users))
		}
		for _, u := range page.Users {
			all = append(all, u.Username)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if want := []string{"Ann", "anna", "bob", "Annette", "carl", "dora"}; !slices.Equal(all, want) {
		t.Errorf("paged list = %v, want %v (creation order)", all, want)
	}
	var found struct {
		Users []adminUser `json:"users"`
	}
	decode(t, e.admin(tok, "GET", "/admin/v1/users?q=ANN", ""), 200, &found)
	var names []string
	for _, u := range found.Users {
		names = append(names, u.Username)
	}
	if want := []string{"Ann", "anna", "Annette", "dora"}; !slices.Equal(names, want) {
		t.Errorf("q=ANN found %v, want %v (dora by her email)", names, want)
	}
	wantFields(t, e.admin(tok, "GET", "/admin/v1/users?limit=0", ""), 400, "limit")
	wantFields(t, e.admin(tok, "GET", "/admin/v1/users?limit=x", ""), 400, "limit")
	wantFields(t, e.admin(tok, "GET", "/admin/v1/users?cursor=garbage", ""), 400, "cursor")

	// Change the profile: no current password needed; a new email is
	// unverified unless the same call vouches for it.
	decode(t, e.admin(tok, "PATCH", "/admin/v1/users/"+ann.ID, `{"username":"Annabel","email":"annabel@example.com","first_name":"Annabel"}`), 200, &got)
	if got.Username != "Annabel" || got.Email != "annabel@example.com" || got.EmailVerified || got.FirstName != "Annabel" {
		t.Errorf("after PATCH: %+v", got)
	}
	decode(t, e.admin(tok, "PATCH", "/admin/v1/users/"+ann.ID, `{"email_verified":true}`), 200, &got)
	if !got.EmailVerified {
		t.Errorf("email_verified not set: %+v", got)
	}
	wantFields(t, e.admin(tok, "PATCH", "/admin/v1/users/"+ann.ID, `{"username":"BOB"}`), 409, "username")
	wantFields(t, e.admin(tok, "PATCH", "/admin/v1/users/"+ann.ID, `{"username":"a\u202eb"}`), 400, "username")
	wantFields(t, e.admin(tok, "PATCH", "/admin/v1/users/"+ann.ID, `{"pk":7}`), 400, "pk")

	// Set the password: every session ends.
	login := e.login(spaID, "annabel", "a fine long password")
	at := str(login, "access_token")
	if r := e.do("GET", "/account/me", nil, "Authorization", "Bearer "+at); r.status != 200 {
		t.Fatalf("/account/me before: %d", r.status)
	}
	wantFields(t, e.admin(tok, "POST", "/admin/v1/users/"+ann.ID+"/password", `{"password":"short"}`), 400, "password")
	decode(t, e.admin(tok, "POST", "/admin/v1/users/"+ann.ID+"/password", `{"password":"the operator's new password"}`), 204, nil)
	wantOAuthError(t, e.do("GET", "/account/me", nil, "Authorization", "Bearer "+at), 401, "invalid_token")
	e.login(spaID, "annabel", "the operator's new password")

	// Disable and enable.
	decode(t, e.admin(tok, "POST", "/admin/v1/users/"+ann.ID+"/disable", ""), 200, &got)
	if !got.Disabled {
		t.Errorf("disable answered %+v", got)
	}
	wantOAuthError(t, e.token(url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {"annabel"}, "password": {"the operator's new password"}}), 400, "invalid_grant")
	decode(t, e.admin(tok, "POST", "/admin/v1/users/"+ann.ID+"/enable", ""), 200, &got)
	if got.Disabled {
		t.Errorf("enable answered %+v", got)
	}
	login = e.login(spaID, "annabel", "the operator's new password", "scope", "openid account offline_access")
	at, rt := str(login, "access_token"), str(login, "refresh_token")

	// Delete: the user, their sessions and refresh tokens are gone, their
	// access token is refused at once, the name is free again.
	decode(t, e.admin(tok, "DELETE", "/admin/v1/users/"+ann.ID, ""), 204, nil)
	wantOAuthError(t, e.admin(tok, "GET", "/admin/v1/users/"+ann.ID, ""), 404, "not_found")
	wantOAuthError(t, e.do("GET", "/account/me", nil, "Authorization", "Bearer "+at), 401, "invalid_token")
	wantOAuthError(t, e.refresh(spaID, rt), 400, "invalid_grant")
	wantOAuthError(t, e.admin(tok, "DELETE", "/admin/v1/users/"+ann.ID, ""), 404, "not_found")
	decode(t, e.admin(tok, "POST", "/admin/v1/users", `{"username":"annabel","password":"a fine long password"}`), 201, nil)
	logs := e.logs.String()
	if !e.audited("user.deleted", "user_id="+ann.ID, "by="+adminID) {
		t.Error("no user.deleted audit line naming the admin client")
	}
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, "event=user.deleted") && (strings.Contains(line, "nnabel") || strings.Contains(line, "@")) {
			t.Errorf("the deletion's audit line names more than the id: %s", line)
		}
	}
	if !e.audited("admin.request", "by="+adminID, "method=DELETE", "route=/admin/v1/users/:id", "status=204") {
		t.Error("no admin.request audit line for the deletion")
	}
}

func TestAdminSessions(t *testing.T) {
	e := newEnv(t)
	tok := e.adminToken()
	u := e.addUser("sam", "sam's long password")
	other := e.addUser("oli", "oli's long password")
	a1 := str(e.login(spaID, "sam", "sam's long password"), "access_token")
	a2 := str(e.login(spa2ID, "sam", "sam's long password"), "access_token")
	oliTok := str(e.login(spaID, "oli", "oli's long password"), "access_token")

	var list struct {
		Sessions []struct {
			ID         string `json:"id"`
			ClientID   string `json:"client_id"`
			ClientName string `json:"client_name"`
			Address    string `json:"address"`
			UserAgent  string `json:"user_agent"`
			CreatedAt  string `json:"created_at"`
			LastUsedAt string `json:"last_used_at"`
		} `json:"sessions"`
	}
	decode(t, e.admin(tok, "GET", "/admin/v1/users/"+u.ID+"/sessions", ""), 200, &list)
	if len(list.Sessions) != 2 {
		t.Fatalf("%d sessions listed, want 2", len(list.Sessions))
	}
	var clients []string
	for _, s := range list.Sessions {
		clients = append(clients, s.ClientID)
		if s.Address != "127.0.0.1" || s.UserAgent == "" || s.CreatedAt == "" || s.LastUsedAt == "" || s.ClientName != s.ClientID {
			t.Errorf("session %+v", s)
		}
	}
	if !slices.Contains(clients, spaID) || !slices.Contains(clients, spa2ID) {
		t.Errorf("clients of the sessions = %v", clients)
	}
	wantOAuthError(t, e.admin(tok, "GET", "/admin/v1/users/u_nobody/sessions", ""), 404, "not_found")

	// End one: its token is refused at once, the other lives.
	var spa2Session string
	for _, s := range list.Sessions {
		if s.ClientID == spa2ID {
			spa2Session = s.ID
		}
	}
	decode(t, e.admin(tok, "DELETE", "/admin/v1/users/"+u.ID+"/sessions/"+spa2Session, ""), 204, nil)
	wantOAuthError(t, e.do("GET", "/account/me", nil, "Authorization", "Bearer "+a2), 401, "invalid_token")
	if r := e.do("GET", "/account/me", nil, "Authorization", "Bearer "+a1); r.status != 200 {
		t.Errorf("the other session's token: %d", r.status)
	}
	wantOAuthError(t, e.admin(tok, "DELETE", "/admin/v1/users/"+u.ID+"/sessions/"+spa2Session, ""), 404, "not_found")
	// Another user's session is not found under this user.
	decode(t, e.admin(tok, "GET", "/admin/v1/users/"+other.ID+"/sessions", ""), 200, &list)
	wantOAuthError(t, e.admin(tok, "DELETE", "/admin/v1/users/"+u.ID+"/sessions/"+list.Sessions[0].ID, ""), 404, "not_found")
	if r := e.do("GET", "/account/me", nil, "Authorization", "Bearer "+oliTok); r.status != 200 {
		t.Errorf("oli's token after a refused end: %d", r.status)
	}

	// End all.
	var ended struct {
		Ended int `json:"ended"`
	}
	decode(t, e.admin(tok, "DELETE", "/admin/v1/users/"+u.ID+"/sessions", ""), 200, &ended)
	if ended.Ended != 1 {
		t.Errorf("ended = %d, want 1", ended.Ended)
	}
	wantOAuthError(t, e.do("GET", "/account/me", nil, "Authorization", "Bearer "+a1), 401, "invalid_token")
	decode(t, e.admin(tok, "GET", "/admin/v1/users/"+u.ID+"/sessions", ""), 200, &list)
	if len(list.Sessions) != 0 {
		t.Errorf("%d sessions left", len(list.Sessions))
	}
	if !e.audited("session.revoked", "user_id="+u.ID, "reason=ended_by_operator") || !e.audited("user.sessions_ended", "user_id="+u.ID, "by="+adminID) {
		t.Error("no session.revoked audit lines for the ended sessions")
	}
}

type adminClient struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Public       bool     `json:"public"`
	Scopes       []string `json:"scopes"`
	Source       string   `json:"source"`
	ReadOnly     bool     `json:"read_only"`
	ClientSecret string   `json:"client_secret"`
}

func TestAdminClients(t *testing.T) {
	e := newEnv(t)
	tok := e.adminToken()

	var batch adminClient
	r := e.admin(tok, "POST", "/admin/v1/clients", `{"id":"batch","name":"Batch jobs","grants":["client_credentials"],"scopes":["api"]}`)
	decode(t, r, 201, &batch)
	if batch.Source != "database" || batch.ReadOnly || len(batch.ClientSecret) < 40 || r.header.Get("Location") != "/admin/v1/clients/batch" {
		t.Errorf("created %+v (Location %q)", batch, r.header.Get("Location"))
	}
	e.clientToken("batch", batch.ClientSecret, "api") // usable at once

	wantFields(t, e.admin(tok, "POST", "/admin/v1/clients", `{"id":"batch","grants":["client_credentials"]}`), 409, "id")
	wantFields(t, e.admin(tok, "POST", "/admin/v1/clients", `{"id":"`+svcID+`","grants":["client_credentials"]}`), 409, "id")
	wantFields(t, e.admin(tok, "POST", "/admin/v1/clients", `{"id":"p","public":true,"grants":["client_credentials"]}`), 400, "grants")
	wantFields(t, e.admin(tok, "POST", "/admin/v1/clients", `{"id":"authd","grants":["client_credentials"]}`), 400, "id")
	wantFields(t, e.admin(tok, "POST", "/admin/v1/clients", `{"id":"c","grants":["authorization_code"]}`), 400, "redirect_uris")
	wantFields(t, e.admin(tok, "POST", "/admin/v1/clients", `{"id":"c","grants":["password"],"secret":"mine"}`), 400, "secret")

	// A public client with a redirect URI: the pages' CSP allows it to be a
	// form target at once.
	var spa adminClient
	decode(t, e.admin(tok, "POST", "/admin/v1/clients", `{"id":"newspa","public":true,"grants":["authorization_code","refresh_token"],"scopes":["openid"],"redirect_uris":["https://newspa.example.com/cb"]}`), 201, &spa)
	if spa.ClientSecret != "" || !spa.Public {
		t.Errorf("public client %+v", spa)
	}
	if csp := e.do("GET", "/signin", nil).header.Get("Content-Security-Policy"); !strings.Contains(csp, "https://newspa.example.com") {
		t.Errorf("CSP does not allow the new client's redirect origin: %s", csp)
	}

	// List: the configured clients read-only, the stored ones not; never a
	// secret.
	var list struct {
		Clients []adminClient `json:"clients"`
	}
	r = e.admin(tok, "GET", "/admin/v1/clients", "")
	decode(t, r, 200, &list)
	byID := map[string]adminClient{}
	for _, c := range list.Clients {
		byID[c.ID] = c
	}
	if c := byID[svcID]; c.Source != "config" || !c.ReadOnly {
		t.Errorf("configured client listed as %+v", c)
	}
	if c := byID["batch"]; c.Source != "database" || c.ReadOnly || c.Name != "Batch jobs" {
		t.Errorf("stored client listed as %+v", c)
	}
	if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), svcSecret) {
		t.Errorf("the list shows secrets: %s", r.body)
	}
	var one adminClient
	decode(t, e.admin(tok, "GET", "/admin/v1/clients/"+svcID, ""), 200, &one)
	if one.ID != svcID || !one.ReadOnly {
		t.Errorf("GET configured client = %+v", one)
	}
	wantOAuthError(t, e.admin(tok, "GET", "/admin/v1/clients/nope", ""), 404, "not_found")

	// Update a stored client; configured ones are read-only, and say why.
	decode(t, e.admin(tok, "PATCH", "/admin/v1/clients/batch", `{"name":"Nightly","scopes":["api","api.read"]}`), 200, &one)
	if one.Name != "Nightly" || !slices.Equal(one.Scopes, []string{"api", "api.read"}) {
		t.Errorf("after PATCH: %+v", one)
	}
	e.clientToken("batch", batch.ClientSecret, "api.read")
	wantFields(t, e.admin(tok, "PATCH", "/admin/v1/clients/batch", `{"grants":["nonsense"]}`), 400, "grants")
	wantFields(t, e.admin(tok, "PATCH", "/admin/v1/clients/batch", `{"public":true}`), 400, "public")
	for _, call := range [][2]string{{"PATCH", `{"name":"x"}`}, {"DELETE", ""}} {
		r := e.admin(tok, call[0], "/admin/v1/clients/"+svcID, call[1])
		wantOAuthError(t, r, 409, "conflict")
		if !strings.Contains(string(r.body), "configuration file") {
			t.Errorf("%s of a configured client: %s, want it to name the configuration file", call[0], r.body)
		}
	}
	r = e.admin(tok, "POST", "/admin/v1/clients/"+svcID+"/secret", "")
	wantOAuthError(t, r, 409, "conflict")

	// Rotate the secret: the old one stops working at once.
	var rotated struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	decode(t, e.admin(tok, "POST", "/admin/v1/clients/batch/secret", ""), 200, &rotated)
	if rotated.ClientID != "batch" || rotated.ClientSecret == batch.ClientSecret {
		t.Errorf("rotation answered %+v", rotated)
	}
	old := e.token(url.Values{"grant_type": {"client_credentials"}}, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("batch:"+batch.ClientSecret)))
	wantOAuthError(t, old, 401, "invalid_client")
	e.clientToken("batch", rotated.ClientSecret, "api")
	wantOAuthError(t, e.admin(tok, "POST", "/admin/v1/clients/newspa/secret", ""), 409, "conflict")

	// Delete.
	decode(t, e.admin(tok, "DELETE", "/admin/v1/clients/batch", ""), 204, nil)
	gone := e.token(url.Values{"grant_type": {"client_credentials"}}, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("batch:"+rotated.ClientSecret)))
	wantOAuthError(t, gone, 401, "invalid_client")
	wantOAuthError(t, e.admin(tok, "GET", "/admin/v1/clients/batch", ""), 404, "not_found")
	wantOAuthError(t, e.admin(tok, "DELETE", "/admin/v1/clients/batch", ""), 404, "not_found")
	for _, ev := range []string{"client.created", "client.updated", "client.secret_rotated", "client.deleted"} {
		if !e.audited(ev, "client_id=batch", "by="+adminID) {
			t.Errorf("no %s audit line naming the admin client", ev)
		}
	}
}

func TestAdminKeys(t *testing.T) {
	e := newEnv(t)
	tok := e.adminToken()
	type key struct {
		KID      string  `json:"kid"`
		Alg      string  `json:"alg"`
		State    string  `json:"state"`
		RemoveAt *string `json:"remove_at"`
	}
	var list struct {
		Keys []key `json:"keys"`
	}
	decode(t, e.admin(tok, "GET", "/admin/v1/keys", ""), 200, &list)
	states := map[string]key{}
	for _, k := range list.Keys {
		states[k.State] = k
	}
	active, next := states["active"], states["next"]
	if active.KID == "" || next.KID == "" || active.Alg != "EdDSA" {
		t.Fatalf("keys = %+v, want an active and a next EdDSA key", list.Keys)
	}

	var rot struct {
		Rotated    bool   `json:"rotated"`
		ActiveKID  string `json:"active_kid"`
		RetiredKID string `json:"retired_kid"`
		NextKID    string `json:"next_kid"`
		Early      bool   `json:"early"`
	}
	decode(t, e.admin(tok, "POST", "/admin/v1/keys/rotate", ""), 200, &rot)
	if !rot.Rotated || rot.ActiveKID != next.KID || rot.RetiredKID != active.KID || rot.NextKID == "" {
		t.Errorf("rotation = %+v; want %s promoted, %s retired", rot, next.KID, active.KID)
	}
	decode(t, e.admin(tok, "GET", "/admin/v1/keys", ""), 200, &list)
	for _, k := range list.Keys {
		if k.KID == active.KID && (k.State != "retired" || k.RemoveAt == nil) {
			t.Errorf("the old active key is %+v, want retired with a removal time", k)
		}
	}
	// The admin token, signed by the key now retired, still works; a new
	// one is signed by the promoted key.
	decode(t, e.admin(tok, "POST", "/admin/v1/keys/rotate", `{"alg":"RS256"}`), 200, &rot)
	decode(t, e.admin(tok, "GET", "/admin/v1/keys", ""), 200, &list)
	for _, k := range list.Keys {
		if k.KID == rot.NextKID && k.Alg != "RS256" {
			t.Errorf("new next key %+v, want RS256", k)
		}
	}
	wantFields(t, e.admin(tok, "POST", "/admin/v1/keys/rotate", `{"alg":"HS256"}`), 400, "alg")
	if !e.audited("key.rotated", "active_kid="+next.KID, "by="+adminID) {
		t.Error("no key.rotated audit line naming the admin client")
	}
}
