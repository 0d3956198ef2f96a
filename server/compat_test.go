package server_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// The requests a django-rest-auth + djangorestframework-jwt front end
// sends, replayed byte for byte (Content-Length added, the token of the
// previous answer filled in), with the answers' shapes checked against
// golden files: statuses, content type, challenge, and bodies with tokens
// and ids replaced by placeholders.
func TestCompatTutorialReplay(t *testing.T) {
	e := newEnv(t)
	files, err := filepath.Glob("testdata/compat/*.http")
	if err != nil || len(files) == 0 {
		t.Fatalf("no requests in testdata/compat: %v", err)
	}
	sort.Strings(files)
	token := ""
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".http")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			req := bytes.ReplaceAll(raw, []byte("{{TOKEN}}"), []byte(token))
			resp, body := e.rawRequest(t, req)
			var got strings.Builder
			fmt.Fprintf(&got, "%s\n", resp.Status)
			for _, h := range []string{"Content-Type", "WWW-Authenticate", "Cache-Control"} {
				if v := resp.Header.Get(h); v != "" {
					fmt.Fprintf(&got, "%s: %s\n", h, v)
				}
			}
			got.WriteString("\n")
			got.WriteString(normalizeCompat(t, body, &token))
			golden(t, filepath.Join("compat", name+".golden"), got.String())
		})
	}
}

// rawRequest sends req as is (adding Content-Length when it has a body)
// over a new connection and reads the answer.
func (e *testEnv) rawRequest(t *testing.T, req []byte) (*http.Response, []byte) {
	t.Helper()
	h, body, _ := bytes.Cut(req, []byte("\r\n\r\n"))
	head := bytes.Clone(h) // appending to h would overwrite the body
	if len(body) > 0 && !bytes.Contains(head, []byte("Content-Length:")) {
		head = append(head, fmt.Sprintf("\r\nContent-Length: %d", len(body))...)
	}
	head = append(head, "\r\nConnection: close"...)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(append(append(head, "\r\n\r\n"...), body...)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// normalizeCompat pretty-prints a JSON body with sorted keys, replacing a
// JWT in "token" by <jwt> (and remembering it) and the user's pk by <id>.
func normalizeCompat(t *testing.T, body []byte, token *string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	var walk func(any)
	walk = func(v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, x := range m {
			switch {
			case k == "token" && isString(x):
				s, _ := x.(string)
				if strings.Count(s, ".") != 2 {
					t.Errorf("token %q is not a JWT", s)
				}
				*token = s
				m[k] = "<jwt>"
			case k == "pk":
				// Django's integer primary key, kept as it is.
				if f, ok := x.(float64); !ok || f < 1 || f != float64(int64(f)) {
					t.Errorf("pk %v is not a positive integer", x)
				}
			default:
				walk(x)
			}
		}
	}
	walk(v)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestCompatErrors(t *testing.T) {
	e := newEnv(t)
	e.addUser("ivan", "ivans password 1")
	login := e.postJSON("POST", "/rest-auth/login/", `{"username":"ivan","password":"ivans password 1"}`, "")
	if login.status != 200 {
		t.Fatalf("login: %d %s", login.status, login.body)
	}
	tok := str(login.json(t), "token")
	jwt := func(method, path, body string) response {
		return e.do(method, path, body, "Content-Type", "application/json", "Authorization", "JWT "+tok)
	}
	tests := []struct {
		name   string
		r      response
		status int
		want   string // JSON the body must equal
	}{
		{"login without password", e.postJSON("POST", "/rest-auth/login/", `{"username":"ivan"}`, ""), 400, `{"password":["This field is required."]}`},
		{"login without username", e.postJSON("POST", "/rest-auth/login/", `{"password":"x"}`, ""), 400, `{"non_field_errors":["Must include \"username\" and \"password\"."]}`},
		{"registration missing fields", e.postJSON("POST", "/rest-auth/registration/", `{"username":"x"}`, ""), 400, `{"password1":["This field is required."],"password2":["This field is required."]}`},
		{"registration taken", e.postJSON("POST", "/rest-auth/registration/", `{"username":"IVAN","password1":"fine password 9","password2":"fine password 9"}`, ""), 400, `{"username":["A user with that username already exists."]}`},
		{"registration weak", e.postJSON("POST", "/rest-auth/registration/", `{"username":"jo","password1":"password1","password2":"password1"}`, ""), 400, `{"password1":["This password is too common."]}`},
		{"malformed JSON", e.postJSON("POST", "/rest-auth/login/", `{"username":`, ""), 400, `{"detail":"JSON parse error - Expecting value: line 1 column 13 (char 12)"}`},
		{"bad token", e.do("GET", "/rest-auth/user/", nil, "Authorization", "JWT garbage"), 401, `{"detail":"Error decoding signature."}`},
		{"password change mismatch", jwt("POST", "/rest-auth/password/change/", `{"old_password":"ivans password 1","new_password1":"a new password 1","new_password2":"a new password 2"}`), 400, `{"new_password2":["The two password fields didn’t match."]}`},
		{"password change wrong old", jwt("POST", "/rest-auth/password/change/", `{"old_password":"nope","new_password1":"a new password 1","new_password2":"a new password 1"}`), 400, `{"old_password":["Invalid password"]}`},
		{"reset confirm bad token", e.postJSON("POST", "/rest-auth/password/reset/confirm/", `{"uid":"dV94","token":"nope","new_password1":"a new password 1","new_password2":"a new password 1"}`, ""), 400, `{"token":["Invalid value"]}`},
		{"reset confirm bad uid", e.postJSON("POST", "/rest-auth/password/reset/confirm/", `{"uid":"!!","token":"nope","new_password1":"a new password 1","new_password2":"a new password 1"}`, ""), 400, `{"uid":["Invalid value"]}`},
		{"verify garbage", e.postJSON("POST", "/verify-token/", `{"token":"a.b.c"}`, ""), 400, `{"non_field_errors":["Error decoding signature."]}`},
		{"refresh missing", e.postJSON("POST", "/refresh-token/", `{}`, ""), 400, `{"token":["This field is required."]}`},
		{"user PUT without username", jwt("PUT", "/rest-auth/user/", `{"first_name":"Ivan"}`), 400, `{"username":["This field is required."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.status != tt.status {
				t.Errorf("status = %d, want %d", tt.r.status, tt.status)
			}
			var got, want any
			if err := json.Unmarshal(tt.r.body, &got); err != nil {
				t.Fatalf("body %s: %v", tt.r.body, err)
			}
			json.Unmarshal([]byte(tt.want), &want)
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("body = %s, want %s", g, w)
			}
		})
	}
	t.Run("user update", func(t *testing.T) {
		r := jwt("PATCH", "/rest-auth/user/", `{"first_name":"Ivan","email":"ignored@example.com","pk":"u_other"}`)
		m := r.json(t)
		if r.status != 200 || m["first_name"] != "Ivan" || m["email"] != "" {
			t.Errorf("PATCH user: %d %v", r.status, m)
		}
	})
	t.Run("refresh window ends", func(t *testing.T) {
		e.clock.Advance(168*60*60e9 - 60e9) // 1 minute before the window's end, but the token expired
		r := e.postJSON("POST", "/refresh-token/", `{"token":"`+tok+`"}`, "")
		if r.status != 400 || !strings.Contains(string(r.body), "Signature has expired.") {
			t.Errorf("refresh with an expired token: %d %s", r.status, r.body)
		}
	})
}

// A reset started at the Django-era path completes there, with the uid and
// token of the mailed link.
func TestCompatPasswordReset(t *testing.T) {
	e := newEnv(t)
	e.addUser("jan", "jans password 1", func(u *storage.User) { u.Email = "jan@example.com" })
	r := e.postJSON("POST", "/rest-auth/password/reset/", `{"email":"jan@example.com"}`, "")
	if r.status != 200 || !strings.Contains(string(r.body), "Password reset e-mail has been sent.") {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	m, err := e.smtp.WaitMessage(10e9)
	if err != nil {
		t.Fatal(err)
	}
	link := m.Text[strings.Index(m.Text, e.url):]
	link = strings.Fields(link)[0]
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"uid":%q,"token":%q,"new_password1":"jans new password","new_password2":"jans new password"}`, u.Query().Get("uid"), u.Query().Get("token"))
	r = e.postJSON("POST", "/rest-auth/password/reset/confirm/", body, "")
	if r.status != 200 || !strings.Contains(string(r.body), "Password has been reset with the new password.") {
		t.Fatalf("confirm: %d %s", r.status, r.body)
	}
	if r := e.postJSON("POST", "/rest-auth/login/", `{"username":"jan","password":"jans new password"}`, ""); r.status != 200 {
		t.Errorf("login with the new password: %d %s", r.status, r.body)
	}
}

func isString(v any) bool { _, ok := v.(string); return ok }

// Tokens of the Django-era paths carry djangorestframework-jwt's payload
// beside the standard claims: user_id (the integer pk), username, email,
// exp and orig_iat (the login time, kept across /refresh-token/).
func TestCompatTokenPayload(t *testing.T) {
	e := newEnv(t)
	e.addUser("payload", "payloads password 1")
	login := e.postJSON("POST", "/rest-auth/login/", `{"username":"payload","password":"payloads password 1"}`, "")
	if login.status != 200 {
		t.Fatalf("login: %d %s", login.status, login.body)
	}
	m := login.json(t)
	tok := str(m, "token")
	user, _ := m["user"].(map[string]any)
	claims := func(tok string) map[string]any {
		parts := strings.Split(tok, ".")
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := claims(tok)
	if c["user_id"] != user["pk"] || c["user_id"] == nil {
		t.Errorf("user_id = %v, want the user's pk %v", c["user_id"], user["pk"])
	}
	if email, _ := c["email"].(string); c["username"] != "payload" || email != user["email"] {
		t.Errorf("username, email = %v, %v; want payload, %v", c["username"], c["email"], user["email"])
	}
	if c["exp"] == nil || c["orig_iat"] == nil || c["orig_iat"] != c["auth_time"] {
		t.Errorf("exp %v, orig_iat %v (auth_time %v): want both, orig_iat = auth_time", c["exp"], c["orig_iat"], c["auth_time"])
	}
	e.clock.Advance(time.Minute)
	r := e.postJSON("POST", "/refresh-token/", `{"token":"`+tok+`"}`, "")
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	c2 := claims(str(r.json(t), "token"))
	if c2["orig_iat"] != c["orig_iat"] || c2["user_id"] != c["user_id"] {
		t.Errorf("after refresh orig_iat %v user_id %v, want %v %v", c2["orig_iat"], c2["user_id"], c["orig_iat"], c["user_id"])
	}
}
