package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/compat"
	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
)

// drfEntry is a response of the real Django REST Framework
// (compat/testdata/drf_messages.json, made by gen_drf_messages.py).
type drfEntry struct {
	Status  int               `json:"status"`
	Body    any               `json:"body"`
	Raw     string            `json:"raw"`
	Headers map[string]string `json:"headers"`
}

func loadDRFEntries(t *testing.T) map[string]drfEntry {
	t.Helper()
	b, err := os.ReadFile("../compat/testdata/drf_messages.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]drfEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// field is one member of a request body: a string, or for JSON alone nil
// (null) or a json.RawMessage; fileField is a file part of a multipart
// body.
type field struct {
	name  string
	value any
}

type fileField struct{ name string } // its filename; "" for "avatar.png"

// Body encodings DRF's default parsers read.
const (
	asJSON      = "json"
	asForm      = "form"
	asMultipart = "multipart"
)

var allEncodings = []string{asJSON, asForm, asMultipart}

// encodeBody writes fields in one encoding and returns the body and its
// Content-Type; ok is false when the encoding cannot hold a value.
func encodeBody(t *testing.T, enc string, fields []field) (body, ctype string, ok bool) {
	t.Helper()
	switch enc {
	case asJSON:
		var b strings.Builder
		b.WriteByte('{')
		for i, f := range fields {
			if i > 0 {
				b.WriteString(", ")
			}
			k, _ := json.Marshal(f.name)
			b.Write(k)
			b.WriteString(": ")
			switch v := f.value.(type) {
			case json.RawMessage:
				b.Write(v)
			case fileField:
				return "", "", false
			default:
				j, _ := json.Marshal(v)
				b.Write(j)
			}
		}
		b.WriteByte('}')
		return b.String(), "application/json", true
	case asForm:
		var parts []string
		for _, f := range fields {
			s, isString := f.value.(string)
			if !isString {
				return "", "", false
			}
			parts = append(parts, url.QueryEscape(f.name)+"="+url.QueryEscape(s))
		}
		return strings.Join(parts, "&"), "application/x-www-form-urlencoded", true
	case asMultipart:
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for _, f := range fields {
			switch v := f.value.(type) {
			case string:
				if err := w.WriteField(f.name, v); err != nil {
					t.Fatal(err)
				}
			case fileField:
				h := textproto.MIMEHeader{}
				filename := v.name
				if filename == "" {
					filename = "avatar.png"
				}
				h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, f.name, filename))
				h.Set("Content-Type", "image/png")
				p, err := w.CreatePart(h)
				if err != nil {
					t.Fatal(err)
				}
				p.Write([]byte("\x89PNG not really"))
			default:
				return "", "", false
			}
		}
		w.Close()
		return b.String(), w.FormDataContentType(), true
	}
	t.Fatalf("unknown encoding %s", enc)
	return
}

// TestCompatDropIn drives every Django-era path through the real router
// with JSON, form and multipart bodies and compares each answer with what
// the real Django REST Framework sent for the same request
// (compat/testdata/drf_messages.json): status, the body as JSON, the body
// byte for byte (DRF's compact JSON, keys in the serializer's order), and
// the Allow, WWW-Authenticate and Retry-After headers.
func TestCompatDropIn(t *testing.T) {
	entries := loadDRFEntries(t)
	e := newEnv(t, func(c *config.Config) {
		c.Throttle.RegistrationsPerHour = 1000
		c.Throttle.ResetRequestsPerHour = 1000
	})
	const alicePw = "alice-Wonderland-1"
	e.addUser("alice", alicePw, func(u *storage.User) { u.Email = "alice@example.com" })
	e.addUser("zed", "zeds own password 9", func(u *storage.User) { u.Email = "marguerite@example.com" })
	tokenOf := func(user, pw string) string {
		r := e.postJSON("POST", "/rest-auth/login/", fmt.Sprintf(`{"username":%q,"password":%q}`, user, pw), "")
		if r.status != 200 {
			t.Fatalf("login %s: %d %s", user, r.status, r.body)
		}
		return str(r.json(t), "token")
	}
	alice, zed := tokenOf("alice", alicePw), tokenOf("zed", "zeds own password 9")

	good := func(changes ...field) []field {
		f := []field{{"username", "newbie"}, {"email", "newbie@example.com"}, {"password1", "Str0ng-enough!"}, {"password2", "Str0ng-enough!"}}
		for _, c := range changes {
			replaced := false
			for i := range f {
				if f[i].name == c.name {
					f[i], replaced = c, true
				}
			}
			if !replaced {
				f = append(f, c)
			}
		}
		return f
	}
	newPasswords := func(pw1, pw2 string) []field {
		return []field{{"old_password", alicePw}, {"new_password1", pw1}, {"new_password2", pw2}}
	}
	confirm := func(uid, tok string) []field {
		return []field{{"uid", uid}, {"token", tok}, {"new_password1", "Str0ng-enough!"}, {"new_password2", "Str0ng-enough!"}}
	}
	const (
		reg    = "/rest-auth/registration/"
		login  = "/rest-auth/login/"
		change = "/rest-auth/password/change/"
	)
	tests := []struct {
		name   string
		method string
		path   string
		token  string // Authorization: JWT <token>
		fields []field
		raw    *string // a body sent as it is, with ctype
		ctype  string
		entry  string
		encs   []string // nil: all three
		auth   string   // a whole Authorization header instead of token
	}{
		{name: "registration, nothing", path: reg, entry: "required"},
		{name: "registration, blank username", path: reg, fields: good(field{"username", ""}), entry: "blank"},
		{name: "registration, long username", path: reg, fields: good(field{"username", strings.Repeat("a", 151)}), entry: "username_max_length"},
		{name: "registration, taken username", path: reg, fields: good(field{"username", "ALICE"}), entry: "username_taken"},
		{name: "registration, bad email", path: reg, fields: good(field{"email", "not-an-email"}), entry: "email_invalid"},
		{name: "registration, taken email", path: reg, fields: good(field{"email", "ALICE@example.com"}), entry: "email_taken"},
		{name: "registration, short password", path: reg, fields: good(field{"password1", "Ab1!x"}, field{"password2", "Ab1!x"}), entry: "password_too_short"},
		{name: "registration, common password", path: reg, fields: good(field{"password1", "password"}, field{"password2", "password"}), entry: "password_too_common"},
		{name: "registration, passwords differ", path: reg, fields: good(field{"password2", "Str0ng-enough?"}), entry: "password_mismatch"},
		{name: "registration, null", path: reg, fields: good(field{"username", nil}), entry: "null", encs: []string{asJSON}},
		{name: "registration, not a string", path: reg, fields: good(field{"username", json.RawMessage(`["newbie"]`)}), entry: "not_a_string", encs: []string{asJSON}},
		{name: "registration, a file for a field", path: reg, fields: good(field{"username", fileField{}}), entry: "not_a_string", encs: []string{asMultipart}},
		{name: "registration, NUL", path: reg, fields: good(field{"username", "new\x00bie"}), entry: "null_characters"},
		{name: "registration, lone surrogate", path: reg, fields: good(field{"username", json.RawMessage(`"\ud800"`)}), entry: "surrogate_characters", encs: []string{asJSON}},
		{name: "registration, a list", path: reg, raw: ptr("[]"), ctype: "application/json", entry: "not_a_dictionary"},
		{name: "registration, null body", path: reg, raw: ptr("null"), ctype: "application/json", entry: "no_data"},
		{name: "registration, malformed JSON", path: reg, raw: ptr(`{"username": `), ctype: "application/json", entry: "json_parse_error"},
		{name: "registration, text/plain", path: reg, raw: ptr("username=x"), ctype: "text/plain", entry: "unsupported_media_type"},
		{name: "registration, no boundary", path: reg, raw: ptr("username=x"), ctype: "multipart/form-data", entry: "multipart_no_boundary"},
		{name: "registration, GET", method: "GET", path: reg, entry: "method_not_allowed"},

		{name: "login, wrong password", path: login, fields: []field{{"username", "alice"}, {"password", "wrong"}}, entry: "login_failed"},
		{name: "login, no password", path: login, fields: []field{{"username", "alice"}}, entry: "login_required"},
		{name: "login, blank username", path: login, fields: []field{{"username", ""}, {"password", "x"}}, entry: "login_must_include"},
		{name: "login, GET", method: "GET", path: login, entry: "method_not_allowed"},
		{name: "logout, GET", method: "GET", path: "/rest-auth/logout/", entry: "logout_method_not_allowed"},

		{name: "user, no token", method: "GET", path: "/rest-auth/user/", entry: "not_authenticated"},
		{name: "user, bad token", method: "GET", path: "/rest-auth/user/", auth: "JWT garbage", entry: "jwt_decode_error"},
		{name: "user, prefix alone", method: "GET", path: "/rest-auth/user/", auth: "JWT", entry: "jwt_no_credentials"},
		{name: "user, spaces", method: "GET", path: "/rest-auth/user/", auth: "JWT a b", entry: "jwt_credentials_spaces"},
		{name: "user, DELETE", method: "DELETE", path: "/rest-auth/user/", token: alice, entry: "user_method_not_allowed"},
		{name: "user, PUT without username", method: "PUT", path: "/rest-auth/user/", token: alice, fields: []field{{"first_name", "Alice"}}, entry: "required_username"},

		{name: "password change, no old password", path: change, token: alice, fields: newPasswords("Str0ng-enough!", "Str0ng-enough!")[1:], entry: "old_password_required"},
		{name: "password change, wrong old password", path: change, token: alice, fields: []field{{"old_password", "wrong"}, {"new_password1", "Str0ng-enough!"}, {"new_password2", "Str0ng-enough?"}}, entry: "old_password_invalid"},
		{name: "password change, passwords differ", path: change, token: alice, fields: newPasswords("Str0ng-enough!", "Str0ng-enough?"), entry: "password_change_mismatch"},
		{name: "password change, like the username", path: change, token: alice, fields: newPasswords("Alice1234", "Alice1234"), entry: "password_too_similar"},
		{name: "password change, like the email", path: change, token: zed, fields: []field{{"old_password", "zeds own password 9"}, {"new_password1", "marguerite2024!"}, {"new_password2", "marguerite2024!"}}, entry: "password_too_similar_email"},
		{name: "password change, too long", path: change, token: alice, fields: newPasswords(strings.Repeat("x", 129), strings.Repeat("x", 129)), entry: "password_max_length"},
		{name: "password change, GET", method: "GET", path: change, token: alice, entry: "method_not_allowed"},

		{name: "reset confirm, bad uid", path: "/rest-auth/password/reset/confirm/", fields: confirm("!!", "x"), entry: "reset_uid_invalid"},
		{name: "reset confirm, bad token", path: "/rest-auth/password/reset/confirm/", fields: confirm("MQ", "x"), entry: "reset_token_invalid"},
		{name: "verify email, unknown key", path: "/rest-auth/registration/verify-email/", fields: []field{{"key", "nope"}}, entry: "verify_email_not_found"},
		{name: "verify email, GET", method: "GET", path: "/rest-auth/registration/verify-email/", entry: "verify_email_method_not_allowed"},
		{name: "login, a method echo does not know", method: "FOO", path: login, entry: "method_not_allowed_foo"},
		{name: "refresh, GET", method: "GET", path: "/refresh-token/", entry: "method_not_allowed"},
		{name: "refresh, a method echo does not know", method: "FOO", path: "/refresh-token/", entry: "method_not_allowed_foo"},
		{name: "verify, GET", method: "GET", path: "/verify-token/", entry: "method_not_allowed"},
		{name: "unknown path", method: "GET", path: "/rest-auth/nope/", entry: "not_found"},
		{name: "unknown path, POST", path: "/rest-auth/registration/nope/", fields: good(), entry: "not_found"},
	}
	// One entry DRF's table lacks: the username left out of a PUT, shaped
	// as "required" is.
	entries["required_username"] = drfEntry{Status: 400, Body: map[string]any{"username": []any{compat.Required}}, Raw: `{"username":["This field is required."]}`}
	// And DRF's 405 for any method, as it words it for GET.
	foo := entries["method_not_allowed"]
	foo.Body = map[string]any{"detail": compat.MethodNotAllowed("FOO")}
	foo.Raw = `{"detail":"Method \"FOO\" not allowed."}`
	entries["method_not_allowed_foo"] = foo

	for _, tt := range tests {
		want, ok := entries[tt.entry]
		if !ok {
			t.Fatalf("%s: no entry %q in drf_messages.json", tt.name, tt.entry)
		}
		method := tt.method
		if method == "" {
			method = http.MethodPost
		}
		encs := tt.encs
		if encs == nil {
			encs = allEncodings
		}
		if tt.raw != nil || (method != http.MethodPost && method != http.MethodPut && method != http.MethodPatch) {
			encs = []string{"as is"}
		}
		for _, enc := range encs {
			t.Run(tt.name+"/"+enc, func(t *testing.T) {
				var body, ctype string
				switch {
				case tt.raw != nil:
					body, ctype = *tt.raw, tt.ctype
				case enc != "as is":
					var ok bool
					if body, ctype, ok = encodeBody(t, enc, tt.fields); !ok {
						t.Fatalf("%s cannot hold these fields", enc)
					}
				}
				var headers []string
				if ctype != "" {
					headers = append(headers, "Content-Type", ctype)
				}
				switch {
				case tt.auth != "":
					headers = append(headers, "Authorization", tt.auth)
				case tt.token != "":
					headers = append(headers, "Authorization", "JWT "+tt.token)
				}
				var r response
				if body == "" && method != http.MethodPost {
					r = e.do(method, tt.path, nil, headers...)
				} else {
					r = e.do(method, tt.path, body, headers...)
				}
				wantDRF(t, r, want)
			})
		}
	}
}

// wantDRF compares an answer with DRF's.
func wantDRF(t *testing.T, r response, want drfEntry) {
	t.Helper()
	if r.status != want.Status {
		t.Errorf("status %d, DRF answered %d (body %s)", r.status, want.Status, r.body)
	}
	var got any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if !reflect.DeepEqual(got, want.Body) {
		t.Errorf("body %s\nDRF sent %s", r.body, want.Raw)
	} else if string(r.body) != want.Raw {
		t.Errorf("body %s\nDRF wrote %s (same JSON, other bytes)", r.body, want.Raw)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, DRF's is application/json", ct)
	}
	for _, h := range []string{"Allow", "WWW-Authenticate", "Retry-After"} {
		if g, w := r.header.Get(h), want.Headers[h]; g != w {
			t.Errorf("%s: %q, DRF sent %q", h, g, w)
		}
	}
}

func ptr(s string) *string { return &s }

// Password problems are listed as Django's validators list them, except
// that authd does not refuse an entirely numeric password: its policy
// follows NIST SP 800-63B, which rules out composition rules, and Django's
// NumericPasswordValidator is one. A long numeric password is accepted;
// in a list of problems, that one is missing.
func TestCompatPasswordValidators(t *testing.T) {
	entries := loadDRFEntries(t)
	e := newEnv(t)
	for _, enc := range allEncodings {
		t.Run(enc, func(t *testing.T) {
			body, ctype, _ := encodeBody(t, enc, []field{{"username", "newbie"}, {"password1", "1234"}, {"password2", "1234"}})
			r := e.do("POST", "/rest-auth/registration/", body, "Content-Type", ctype)
			want := entries["password_several"]
			msgs := want.Body.(map[string]any)["password1"].([]any)
			if msgs[len(msgs)-1] != compat.PasswordEntirelyNumeric {
				t.Fatalf("DRF's list %v does not end with the numeric validator's message", msgs)
			}
			want.Body = map[string]any{"password1": msgs[:len(msgs)-1]}
			want.Raw = `{"password1":["This password is too short. It must contain at least 8 characters.","This password is too common."]}`
			wantDRF(t, r, want)
		})
	}
	r := e.postJSON("POST", "/rest-auth/registration/", `{"username":"numbers","password1":"73829104561","password2":"73829104561"}`, "")
	if r.status != http.StatusCreated {
		t.Errorf("an entirely numeric password: %d %s, want 201 (authd has no composition rule)", r.status, r.body)
	}
}

// Form and multipart bodies reach the same services as JSON: a user
// registers with a form, logs in with multipart, reads and changes their
// profile with a form; and an empty optional field of a form is absent, as
// DRF reads HTML input, where JSON's "" is blank.
func TestCompatFormBodies(t *testing.T) {
	e := newEnv(t)
	reg := url.Values{"username": {"formy"}, "email": {""}, "password1": {"form password 1"}, "password2": {"form password 1"}}
	r := e.do("POST", "/rest-auth/registration/", reg)
	if r.status != http.StatusCreated {
		t.Fatalf("registration by form: %d %s", r.status, r.body)
	}
	if user, _ := r.json(t)["user"].(map[string]any); user["email"] != "" || user["username"] != "formy" {
		t.Errorf("user %v", user)
	}
	if r := e.postJSON("POST", "/rest-auth/registration/", `{"username":"jsony","email":"","password1":"json password 1","password2":"json password 1"}`, ""); r.status != 400 || string(r.body) != `{"email":["This field may not be blank."]}` {
		t.Errorf("registration by JSON with a blank email: %d %s", r.status, r.body)
	}
	body, ctype, _ := encodeBody(t, asMultipart, []field{{"username", " formy "}, {"password", "form password 1"}, {"avatar", fileField{}}})
	r = e.do("POST", "/rest-auth/login/", body, "Content-Type", ctype)
	if r.status != http.StatusOK {
		t.Fatalf("login by multipart (username with spaces around, a file beside): %d %s", r.status, r.body)
	}
	tok := str(r.json(t), "token")
	// A part with an empty filename is a field, as Django reads it.
	raw := "--b\r\nContent-Disposition: form-data; name=\"username\"; filename=\"\"\r\n\r\nformy\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nform password 1\r\n--b--\r\n"
	if r := e.do("POST", "/rest-auth/login/", raw, "Content-Type", "multipart/form-data; boundary=b"); r.status != http.StatusOK {
		t.Errorf("login by multipart, a part with an empty filename: %d %s", r.status, r.body)
	}
	r = e.do("PATCH", "/rest-auth/user/", url.Values{"first_name": {"Formy"}}, "Authorization", "JWT "+tok)
	if m := r.json(t); r.status != 200 || m["first_name"] != "Formy" || m["username"] != "formy" {
		t.Errorf("PATCH by form: %d %v", r.status, m)
	}
	// The body hygiene of every path: the server's size limit stands.
	big := url.Values{"username": {strings.Repeat("x", int(e.cfg.HTTP.MaxBodyBytes))}, "password": {"x"}}
	// Declared over the limit, it is refused before the handler runs, and
	// still answered in DRF's shape.
	if r := e.do("POST", "/rest-auth/login/", big); r.status != http.StatusRequestEntityTooLarge || string(r.body) != `{"detail":"The request body is too large."}` {
		t.Errorf("a body over the limit: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/oauth2/token", big); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), `"error":"request_too_large"`) {
		t.Errorf("a body over the limit at the token endpoint: %d %s", r.status, r.body)
	}
}

// A token that logged out (or whose password changed, or whose user was
// disabled) is answered with compat.Revoked on every path that takes a
// token: as a 401 detail where the token authenticates, under
// non_field_errors at /verify-token/ and /refresh-token/.
func TestCompatRevokedToken(t *testing.T) {
	e := newEnv(t)
	e.addUser("rita", "ritas password 1")
	login := func() string {
		r := e.postJSON("POST", "/rest-auth/login/", `{"username":"rita","password":"ritas password 1"}`, "")
		if r.status != 200 {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		return str(r.json(t), "token")
	}
	tok := login()
	other := login() // a second session, ended by the password change below
	if r := e.do("POST", "/rest-auth/logout/", nil, "Authorization", "JWT "+tok); r.status != 200 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	revoked401 := drfEntry{Status: 401, Body: map[string]any{"detail": compat.Revoked}, Raw: `{"detail":"` + compat.Revoked + `"}`,
		Headers: map[string]string{"WWW-Authenticate": compat.Challenge}}
	revoked400 := drfEntry{Status: 400, Body: map[string]any{"non_field_errors": []any{compat.Revoked}}, Raw: `{"non_field_errors":["` + compat.Revoked + `"]}`}
	check := func(t *testing.T, tok string) {
		for _, c := range []struct {
			method, path, body, prefix string
			want                       drfEntry
		}{
			{"GET", "/rest-auth/user/", "", "JWT", revoked401},
			{"GET", "/rest-auth/user/", "", "Bearer", revoked401},
			{"PATCH", "/rest-auth/user/", `{"first_name":"R"}`, "JWT", revoked401},
			{"POST", "/rest-auth/password/change/", `{"old_password":"ritas password 1","new_password1":"a new password 2","new_password2":"a new password 2"}`, "JWT", revoked401},
			{"DELETE", "/rest-auth/user/", "", "JWT", revoked401}, // the token is judged before the method
			{"POST", "/verify-token/", `{"token":"` + tok + `"}`, "", revoked400},
			{"POST", "/refresh-token/", `{"token":"` + tok + `"}`, "", revoked400},
		} {
			t.Run(c.method+" "+c.path+" "+c.prefix, func(t *testing.T) {
				h := []string{"Content-Type", "application/json"}
				if c.prefix != "" {
					h = append(h, "Authorization", c.prefix+" "+tok)
				}
				var r response
				if c.body == "" {
					r = e.do(c.method, c.path, nil, h...)
				} else {
					r = e.do(c.method, c.path, c.body, h...)
				}
				wantDRF(t, r, c.want)
			})
		}
	}
	t.Run("logged out", func(t *testing.T) { check(t, tok) })
	cur := login()
	r := e.do("POST", "/rest-auth/password/change/", `{"old_password":"ritas password 1","new_password1":"a brand new secret 2","new_password2":"a brand new secret 2"}`,
		"Content-Type", "application/json", "Authorization", "JWT "+cur)
	if r.status != 200 || string(r.body) != `{"detail":"New password has been saved."}` {
		t.Fatalf("password change: %d %s", r.status, r.body)
	}
	t.Run("password changed in another session", func(t *testing.T) { check(t, other) })
	if r := e.do("GET", "/rest-auth/user/", nil, "Authorization", "JWT "+cur); r.status != 200 {
		t.Errorf("the session that changed the password: %d %s", r.status, r.body)
	}
	// Logging out again with an ended token is harmless and answered alike.
	if r := e.do("POST", "/rest-auth/logout/", nil, "Authorization", "JWT "+tok); r.status != 200 {
		t.Errorf("second logout: %d %s", r.status, r.body)
	}
}

// An expired token says so on every path that takes one.
func TestCompatExpiredToken(t *testing.T) {
	entries := loadDRFEntries(t)
	e := newEnv(t)
	e.addUser("eve", "eves password 1")
	r := e.postJSON("POST", "/rest-auth/login/", `{"username":"eve","password":"eves password 1"}`, "")
	tok := str(r.json(t), "token")
	e.clock.Advance(e.cfg.Tokens.AccessTTL + time.Hour)
	wantDRF(t, e.do("GET", "/rest-auth/user/", nil, "Authorization", "JWT "+tok), entries["jwt_signature_expired"])
	expired := drfEntry{Status: 400, Body: map[string]any{"non_field_errors": []any{compat.SignatureExpired}}, Raw: `{"non_field_errors":["Signature has expired."]}`}
	wantDRF(t, e.postJSON("POST", "/verify-token/", `{"token":"`+tok+`"}`, ""), expired)
	wantDRF(t, e.postJSON("POST", "/refresh-token/", `{"token":"`+tok+`"}`, ""), expired)
}

// Failed logins past the account's threshold are DRF's 429, its wait in
// the detail and in Retry-After.
func TestCompatThrottled(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Throttle.AccountFailures = 1 })
	e.addUser("tom", "toms password 1")
	var r response
	for range 3 {
		r = e.postJSON("POST", "/rest-auth/login/", `{"username":"tom","password":"wrong"}`, "")
	}
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d %s, want 429", r.status, r.body)
	}
	var wait int
	if _, err := fmt.Sscan(r.header.Get("Retry-After"), &wait); err != nil || wait < 1 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if want := `{"detail":"` + compat.Throttled(wait) + `"}`; string(r.body) != want {
		t.Errorf("body %s, want %s", r.body, want)
	}
}

// The verification mail's key confirms the address at
// /rest-auth/registration/verify-email/ (once); resend-email mails a new
// one, and answers an unknown or verified address exactly alike.
func TestCompatVerifyEmail(t *testing.T) {
	entries := loadDRFEntries(t)
	e := newEnv(t)
	keyOf := func(to string) string {
		t.Helper()
		m, err := e.smtp.WaitMessage(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.To) != 1 || m.To[0] != to {
			t.Fatalf("mail to %v, want %s", m.To, to)
		}
		i := strings.Index(m.Text, e.url+"/email/verify?")
		if i < 0 {
			t.Fatalf("no verification link in %q", m.Text)
		}
		u, err := url.Parse(strings.Fields(m.Text[i:])[0])
		if err != nil {
			t.Fatal(err)
		}
		return u.Query().Get("token")
	}
	register := func(name string) {
		t.Helper()
		r := e.postJSON("POST", "/rest-auth/registration/", fmt.Sprintf(`{"username":%q,"email":"%s@example.com","password1":"a fine password 1","password2":"a fine password 1"}`, name, name), "")
		if r.status != http.StatusCreated {
			t.Fatalf("register %s: %d %s", name, r.status, r.body)
		}
	}
	ok := drfEntry{Status: 200, Body: map[string]any{"detail": "ok"}, Raw: `{"detail":"ok"}`}
	register("vera")
	key := keyOf("vera@example.com")
	wantDRF(t, e.postJSON("POST", "/rest-auth/registration/verify-email/", `{"key":"`+key+`"}`, ""), ok)
	wantDRF(t, e.do("POST", "/rest-auth/registration/verify-email/", url.Values{"key": {key}}), entries["verify_email_not_found"])
	if u, err := e.store.GetUserByUsername(t.Context(), "vera"); err != nil || !u.EmailVerified {
		t.Errorf("vera's email verified = %v (%v)", u.EmailVerified, err)
	}

	register("rob")
	keyOf("rob@example.com") // the first mail, not used
	wantDRF(t, e.do("POST", "/rest-auth/registration/resend-email/", url.Values{"email": {"ROB@example.com"}}), ok)
	wantDRF(t, e.postJSON("POST", "/rest-auth/registration/verify-email/", `{"key":"`+keyOf("rob@example.com")+`"}`, ""), ok)
	for _, addr := range []string{"nobody@example.com", "vera@example.com", "rob@example.com"} {
		wantDRF(t, e.postJSON("POST", "/rest-auth/registration/resend-email/", `{"email":"`+addr+`"}`, ""), ok)
	}
	if m, err := e.smtp.WaitMessage(500 * time.Millisecond); err == nil {
		t.Errorf("a mail to %v for an unknown or verified address", m.To)
	}
	required := drfEntry{Status: 400, Body: map[string]any{"email": []any{compat.Required}}, Raw: `{"email":["This field is required."]}`}
	wantDRF(t, e.postJSON("POST", "/rest-auth/registration/resend-email/", `{}`, ""), required)
	wantDRF(t, e.postJSON("POST", "/rest-auth/registration/resend-email/", `{"email":"not-an-email"}`, ""), entries["email_invalid"])
	wantDRF(t, e.do("GET", "/rest-auth/registration/resend-email/", nil), entries["verify_email_method_not_allowed"])
}

// With compat.old_password_required false, a password change is
// django-rest-auth's default: the new password twice, no old one (one
// sent is ignored); the same policy applies and the other sessions end.
func TestCompatPasswordChangeWithoutOld(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Compat.OldPasswordRequired = false })
	e.addUser("olga", "olgas password 1")
	login := func(pw string) response {
		return e.postJSON("POST", "/rest-auth/login/", `{"username":"olga","password":"`+pw+`"}`, "")
	}
	tok, other := str(login("olgas password 1").json(t), "token"), str(login("olgas password 1").json(t), "token")
	change := func(body string) response {
		return e.do("POST", "/rest-auth/password/change/", body, "Content-Type", "application/json", "Authorization", "JWT "+tok)
	}
	entries := loadDRFEntries(t)
	wantDRF(t, change(`{"new_password1":"Str0ng-enough!","new_password2":"Str0ng-enough?"}`), entries["password_change_mismatch"])
	wantDRF(t, change(`{"new_password1":"password","new_password2":"password"}`), drfEntry{Status: 400,
		Body: map[string]any{"new_password2": []any{compat.PasswordTooCommon}}, Raw: `{"new_password2":["This password is too common."]}`})
	required := drfEntry{Status: 400, Body: map[string]any{"new_password1": []any{compat.Required}, "new_password2": []any{compat.Required}},
		Raw: `{"new_password1":["This field is required."],"new_password2":["This field is required."]}`}
	wantDRF(t, change(`{"old_password":"olgas password 1"}`), required)
	r := change(`{"old_password":"not even right","new_password1":"a brand new secret 2","new_password2":"a brand new secret 2"}`)
	if r.status != 200 || string(r.body) != `{"detail":"New password has been saved."}` {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	if r := login("olgas password 1"); r.status != 400 {
		t.Errorf("the old password still logs in: %d", r.status)
	}
	if r := login("a brand new secret 2"); r.status != 200 {
		t.Errorf("the new password: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/rest-auth/user/", nil, "Authorization", "JWT "+other); r.status != 401 || !strings.Contains(string(r.body), compat.Revoked) {
		t.Errorf("the other session's token: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/rest-auth/user/", nil, "Authorization", "JWT "+tok); r.status != 200 {
		t.Errorf("the session that changed it: %d %s", r.status, r.body)
	}
}
