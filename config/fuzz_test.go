package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzLoad feeds LoadEnviron an arbitrary YAML file and arbitrary AUTHD_*
// variables (env holds KEY=VALUE lines). To fuzz it:
//
//	go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime 5m -parallel 1 ./config
//
// Properties: Load never panics; it either returns a config that Validate
// finds nothing wrong with, or an *Error listing at least one problem, each
// a one-line "key: reason" (the CLI prints the error as one line on
// stderr); it gives the same answer twice; a string key set by the
// environment wins over the file; and no problem quotes a secret
// (keys.encryption_key, mail.password, a client secret) given in the
// environment.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	seeds := []struct{ yaml, env string }{
		{string(example), ""},
		{string(example), "AUTHD_TOKENS_ACCESS_TTL=5m\nAUTHD_CLIENTS_1_SECRET=a-long-enough-secret-1\nAUTHD_LOG_LEVEL=debug"},
		{"", ""},
		{"", "AUTHD_ISSUER=https://auth.example.com\nAUTHD_TOKENS_AUDIENCE=api, admin ,"},
		{"", "AUTHD_KEYS_ENCRYPTION_KEY=not-base64-but-a-secret!!"},
		{"", "AUTHD_KEYS_ENCRYPTION_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
		{"", "AUTHD_PASSWORDS_ARGON2_PARALLELISM=256\nAUTHD_PASSWORDS_ARGON2_MEMORY_KIB=-1"},
		{"tokens:\n  access_ttl: soon\nbogus: 1\n", ""},
		{"tokens:\n  access_ttl: 5m\n  access_ttl: 6m\n", ""},
		{"tokens: [1, 2]\nissuer: {a: b}\nlisten: [x]\n", ""},
		{"tokens:\n  audience: api\n", ""},
		{"tokens:\n  audience: ~\n", ""},
		{"tokens:\n  audience: []\n", ""},
		{"base: &b {access_ttl: 1m}\ntokens: *b\n", ""},
		{"tokens: &t {access_ttl: 1m}\nkeys: *t\n", ""},
		{"clients:\n  - &c {id: a, public: true, grants: [password]}\n  - *c\n", ""},
		{"clients:\n  - id: a\n    grants: &g [password, password]\n    public: true\n    scopes: *g\n", "AUTHD_CLIENTS_0_ID=b"},
		{"clients:\n  - id: svc\n    secret: short\n    grants: [client_credentials]\n", "AUTHD_CLIENTS_0_SECRET=still-short"},
		{"clients:\n  - id: 'a:b'\n    public: true\n    grants: [authorization_code]\n    redirect_uris: ['/rel', 'http://x/#f']\n", ""},
		{"!!binary aGVsbG8=", ""},
		{"? [a, b]\n: c\n", ""},
		{"\"a\\nb\": 1\n", ""},
		{"tokens:\n  \"access\\nttl\": 1m\n", ""},
		{"passwords:\n  argon2: {memory_kib: 99999999999, iterations: 0x10, parallelism: 1.5}\n", ""},
		{"keys:\n  rsa_bits: 1e3\n  rotate_every: -1h\n", ""},
		{"compat: {rest_auth: yes}\n", ""},
		{"%YAML 1.1\n---\nissuer: x\n", ""},
		{"---\n---\n", ""},
		{"a: b\n\tc: d\n", ""},
		{"[", ""},
		{"\xff\xfe", ""},
		{"issuer: \"\\u0000\"\n", ""},
		{"http:\n  trusted_proxies: [10.0.0.0/8, nonsense]\ncors:\n  allowed_origins: ['https://a.example', 'https://b.example/path']\n", ""},
		{"", "AUTHD_TOKENS_ACCES_TTL=5m\nAUTHD_CLIENTS_5_SECRET=a-long-enough-secret-5\nAUTHD_CONFIG=x"},
		{"tokens:\n  access_ttl: [1]\nlisten: x:99999\n", "AUTHD_LISTEN=:http\nAUTHD_METRICS_LISTEN=\nAUTHD_MAIL_REQUIRE_TLS=yes"},
		{"tls:\n  cert_file: /nonexistent\n", "AUTHD_TOKENS_ACCESS_TOKEN_CLAIMS=email,email,phone"},
	}
	for _, s := range seeds {
		f.Add([]byte(s.yaml), s.env)
	}
	path := filepath.Join(f.TempDir(), "authd.yaml")
	f.Fuzz(func(t *testing.T, data []byte, envText string) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{}
		var environ []string
		for line := range strings.SplitSeq(envText, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				environ = append(environ, line)
				if _, dup := vars[k]; !dup {
					vars[k] = v // the first counts, as for os.Getenv
				}
			}
		}

		cfg, err := LoadEnviron(path, environ)
		cfg2, err2 := LoadEnviron(path, environ)
		if !reflect.DeepEqual(cfg, cfg2) || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("two loads differ: %v / %v", err, err2)
		}
		if err == nil {
			if p := cfg.Validate(); len(p) > 0 {
				t.Fatalf("Load accepted a config that Validate refuses: %q", p)
			}
			for key, field := range map[string]*string{
				"AUTHD_ISSUER": &cfg.Issuer, "AUTHD_DATABASE": &cfg.Database, "AUTHD_LOG_LEVEL": &cfg.Log.Level,
				"AUTHD_MAIL_FROM": &cfg.Mail.From, "AUTHD_KEYS_ALGORITHM": &cfg.Keys.Algorithm,
			} {
				if v := vars[key]; v != "" && *field != v {
					t.Fatalf("%s=%q, but the loaded value is %q", key, v, *field)
				}
			}
			return
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("Load error %v (%T), want a *config.Error", err, err)
		}
		if len(ce.Problems) == 0 {
			t.Fatal("a *config.Error with no problems")
		}
		for _, p := range ce.Problems {
			if !strings.Contains(p, ": ") || strings.HasPrefix(p, ":") {
				t.Fatalf("problem %q does not name its key", p)
			}
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("the error is not one line: %q", msg)
		}
		// A secret appears in the error only if it was echoed from
		// there: the fuzzer could put the same text in the file or in
		// another variable, and then it is not a leak of this one.
		for key, v := range vars {
			secret := key == "AUTHD_KEYS_ENCRYPTION_KEY" || key == "AUTHD_MAIL_PASSWORD" ||
				(strings.HasPrefix(key, "AUTHD_CLIENTS_") && strings.HasSuffix(key, "_SECRET"))
			if !secret || len(v) < 8 || strings.Contains(string(data), v) {
				continue
			}
			elsewhere := false
			for k2, v2 := range vars {
				elsewhere = elsewhere || (k2 != key && strings.Contains(v2, v))
			}
			if !elsewhere && strings.Contains(err.Error(), strconv.Quote(v)) {
				t.Fatalf("the error quotes the secret of %s: %v", key, err)
			}
		}
	})
}
