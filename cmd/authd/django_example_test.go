package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// python is the interpreter Debian's python3-django and friends belong to.
const python = "/usr/bin/python3"

// needDjango skips the test when the example's Python packages are
// missing.
func needDjango(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import django, rest_framework, jwt").CombinedOutput(); err != nil {
		t.Skipf("examples/django needs %s with Django, Django REST Framework and PyJWT (.ci/django-deps.sh installs them): %v %s",
			python, err, bytes.TrimSpace(out))
	}
}

// jwtPart decodes one part (0 header, 1 payload) of a JWS.
func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWS", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// freeAddr is a loopback address nothing listens on (for the issuer, which
// must be known before authd starts).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestDjangoExample runs examples/django against a real authd, as its
// README's "Making the tokens" says: the Django fixture's users imported
// with their pks, a token from the Django-era login (user_id = the Django
// pk) and from the password grant, an expired one, an ID token, and tokens
// signed by successive keys over two rotations (RS256 to EdDSA). check.py
// must accept the good tokens as the fixture's alice (pk 1) and refuse the
// rest; then the example's own unit tests run.
func TestDjangoExample(t *testing.T) {
	needDjango(t)
	example, err := filepath.Abs(filepath.Join("..", "..", "examples", "django"))
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := filepath.Abs(filepath.Join("..", "..", "users", "testdata", "django_users.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	cfg := filepath.Join(dir, "authd.yaml")
	err = os.WriteFile(cfg, []byte(`
database_synchronous: NORMAL
passwords:
  argon2: {memory_kib: 64, iterations: 1, parallelism: 1}
keys:
  algorithm: RS256
  reload_interval: 200ms
metrics:
  listen: ""
clients:
  - id: demo-spa
    public: true
    grants: [password, refresh_token]
    scopes: [openid, profile, email, offline_access]
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"AUTHD_CONFIG":   cfg,
		"AUTHD_DATABASE": filepath.Join(dir, "authd.db"),
		"AUTHD_LISTEN":   addr,
		"AUTHD_ISSUER":   issuer,
	}
	if _, err := runCLI(t, env, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, env, "", "users", "import", "--format", "django", fixture)
	if err != nil || !strings.Contains(out, "imported 4 user(s)") {
		t.Fatalf("users import: %v %q", err, out)
	}
	const alicePw = "alice-Wonderland-1" // users/testdata/README.md

	grant := func(s *serveProc, scope string) map[string]any {
		t.Helper()
		code, tr := postForm(t, s.url+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"demo-spa"},
			"username": {"alice"}, "password": {alicePw}, "scope": {scope}})
		if code != http.StatusOK {
			t.Fatalf("password grant: %d %v", code, tr)
		}
		return tr
	}
	compatLogin := func(s *serveProc) string {
		t.Helper()
		resp, err := http.Post(s.url+"/rest-auth/login/", "application/json", strings.NewReader(`{"username":"alice","password":"`+alicePw+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Token string `json:"token"`
			User  struct {
				PK       int64  `json:"pk"`
				Username string `json:"username"`
			} `json:"user"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/rest-auth/login/: %d %v", resp.StatusCode, err)
		}
		if body.User.PK != 1 || body.User.Username != "alice" {
			t.Errorf("/rest-auth/login/ user = %+v, want the Django pk 1 and alice", body.User)
		}
		return body.Token
	}

	// An access token that has expired: a server with a 1s lifetime.
	envShort := map[string]string{"AUTHD_TOKENS_ACCESS_TTL": "1s"}
	for k, v := range env {
		envShort[k] = v
	}
	short := startServe(t, envShort)
	expired := grant(short, "profile")["access_token"].(string)
	if err := short.stop(); err != nil {
		t.Fatal(err)
	}
	expiredAt := time.Unix(int64(jwtPart(t, expired, 1)["exp"].(float64)), 0)

	s := startServe(t, env)
	compatTok := compatLogin(s)
	claims := jwtPart(t, compatTok, 1)
	if claims["user_id"] != float64(1) || claims["username"] != "alice" {
		t.Errorf("the Django-era token's user_id, username = %v, %v; want 1, alice", claims["user_id"], claims["username"])
	}
	sub, _ := claims["sub"].(string)
	first := grant(s, "openid profile")
	access := []string{compatTok, first["access_token"].(string)}
	idToken := first["id_token"].(string)
	kids := []string{jwtPart(t, access[1], 0)["kid"].(string)}

	// Two rotations: the key made next at the start (RS256) signs, then
	// the EdDSA one the first rotation made.
	for i := range 2 {
		out, err := runCLI(t, env, "", "keys", "rotate", "--alg", "EdDSA")
		if err != nil {
			t.Fatalf("keys rotate %d: %v", i+1, err)
		}
		promoted := strings.Fields(strings.TrimPrefix(out, "rotated: "))[0]
		deadline := time.Now().Add(10 * time.Second)
		for {
			tok := grant(s, "profile")["access_token"].(string)
			if jwtPart(t, tok, 0)["kid"] == promoted {
				access = append(access, tok)
				kids = append(kids, promoted)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rotation %d: the server does not sign with %s", i+1, promoted)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if alg := jwtPart(t, access[len(access)-1], 0)["alg"]; alg != "EdDSA" {
		t.Errorf("after two rotations the tokens are %v, want EdDSA", alg)
	}
	time.Sleep(time.Until(expiredAt.Add(time.Second))) // past exp, with the check's leeway of 0

	cmd := exec.Command(python, filepath.Join(example, "check.py"))
	cmd.Env = append(os.Environ(),
		"PYTHONDONTWRITEBYTECODE=1",
		"AUTHD_ISSUER="+issuer,
		"AUTHD_ACCESS_TOKEN="+strings.Join(access, " "),
		"AUTHD_EXPIRED_TOKEN="+expired,
		"AUTHD_ID_TOKEN="+idToken,
		"AUTHD_EXPECT_SUB="+sub,
		"AUTHD_EXPECT_PK=1",
		"AUTHD_EXPECT_USERNAME=alice",
		"AUTHD_DJANGO_FIXTURE="+fixture,
	)
	output, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(output)), "\n")
	last := lines[len(lines)-1]
	if err != nil || !strings.HasSuffix(last, " passed, 0 failed") || !strings.HasPrefix(last, "check: ") {
		t.Fatalf("check.py: %v, last line %q\n%s", err, last, output)
	}
	t.Logf("check.py, tokens of keys %v:\n%s", kids, output)

	test := exec.Command(python, "manage.py", "test", "--noinput")
	test.Dir = example
	test.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "EXAMPLE_DB="+filepath.Join(dir, "example.sqlite3"))
	if output, err := test.CombinedOutput(); err != nil {
		t.Fatalf("manage.py test: %v\n%s", err, output)
	}
}
