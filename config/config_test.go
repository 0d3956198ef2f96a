package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "authd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatalf("Load with no file: %v", err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("Load(\"\") = %+v, want Default()", cfg)
	}
}

// The example file must show every key with its default value (clients
// aside, which are examples).
func TestExampleMirrorsDefaults(t *testing.T) {
	cfg, err := Load("../config.example.yaml", env(nil))
	if err != nil {
		t.Fatalf("loading config.example.yaml: %v", err)
	}
	if len(cfg.Clients) != 2 || cfg.Clients[0].ID != "demo-spa" || cfg.Clients[1].ID != "demo-service" {
		t.Errorf("example clients = %+v, want demo-spa and demo-service", cfg.Clients)
	}
	cfg.Clients = nil
	want := Default()
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config.example.yaml differs from Default():\n got %+v\nwant %+v", cfg, want)
	}

	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := joinPath(path, n.Content[i].Value)
				present[p] = true
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path+"[]")
			}
		}
	}
	walk(doc.Content[0], "")
	for _, key := range keyPaths(reflect.TypeFor[Config](), "") {
		if !present[key] {
			t.Errorf("config.example.yaml does not document %s", key)
		}
	}
}

// keyPaths lists every leaf key of t; list items of structs as "path[].key".
func keyPaths(t reflect.Type, path string) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		p := joinPath(path, name)
		ft := t.Field(i).Type
		switch {
		case ft.Kind() == reflect.Struct && ft != durationType:
			out = append(out, keyPaths(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			// Client has optional fields (secret or public); require the
			// list itself to be shown.
			out = append(out, p)
		default:
			out = append(out, p)
		}
	}
	return out
}

func TestLoadFileAndEnv(t *testing.T) {
	p := writeFile(t, `
issuer: https://auth.example.com
tokens:
  access_ttl: 5m
clients:
  - id: svc
    secret: a-long-enough-secret
    grants: [client_credentials]
`)
	cfg, err := Load(p, env(map[string]string{
		"AUTHD_TOKENS_ACCESS_TTL":           "10m",
		"AUTHD_TOKENS_AUDIENCE":             "api, admin",
		"AUTHD_CLIENTS_0_SECRET":            "from-the-environment",
		"AUTHD_COMPAT_REST_AUTH":            "false",
		"AUTHD_PASSWORDS_ARGON2_ITERATIONS": "3",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Issuer, "https://auth.example.com"; got != want {
		t.Errorf("issuer = %q, want %q", got, want)
	}
	if got, want := cfg.Tokens.AccessTTL, 10*time.Minute; got != want {
		t.Errorf("access_ttl = %s, want %s (env wins over file)", got, want)
	}
	if got, want := cfg.Tokens.IDTTL, 15*time.Minute; got != want {
		t.Errorf("id_ttl = %s, want default %s", got, want)
	}
	if got, want := cfg.Tokens.Audience, []string{"api", "admin"}; !slices.Equal(got, want) {
		t.Errorf("audience = %q, want %q", got, want)
	}
	if got, want := cfg.Clients[0].Secret, "from-the-environment"; got != want {
		t.Errorf("clients[0].secret = %q, want %q", got, want)
	}
	if cfg.Compat.RestAuth {
		t.Error("compat.rest_auth = true, want false from env")
	}
	if got := cfg.Passwords.Argon2.Iterations; got != 3 {
		t.Errorf("argon2.iterations = %d, want 3", got)
	}
}

func TestProblemsNameTheirKeys(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want []string // each must appear in the error
	}{
		{"unknown key", "tokens:\n  acces_ttl: 5m\n", nil, []string{"tokens.acces_ttl: line 2: unknown key"}},
		{"bad duration", "tokens:\n  access_ttl: soon\n", nil, []string{"tokens.access_ttl: line 2: want a duration"}},
		{"bad int", "keys:\n  rsa_bits: many\n", nil, []string{"keys.rsa_bits: line 2: want a whole number"}},
		{"bad bool", "compat:\n  rest_auth: maybe\n", nil, []string{"compat.rest_auth: line 2: want true or false"}},
		{"list expected", "tokens:\n  audience: api\n", nil, []string{"tokens.audience: line 2: want a list"}},
		{"duplicate key", "listen: a:1\nlisten: b:2\n", nil, []string{"listen: line 2: key given twice"}},
		{"bad env", "", map[string]string{"AUTHD_TOKENS_ID_TTL": "x"}, []string{"tokens.id_ttl (from AUTHD_TOKENS_ID_TTL): want a duration"}},
		{
			"every problem at once",
			"tokens:\n  access_ttl: nope\n  refresh_idle_ttl: 1\nkeys:\n  bogus: 1\n",
			nil,
			[]string{"tokens.access_ttl", "tokens.refresh_idle_ttl", "keys.bogus: line 5: unknown key"},
		},
		{
			"invalid values",
			"issuer: ftp://x\nkeys:\n  algorithm: HS256\n  rsa_bits: 1024\n  encryption_key: c2hvcnQ=\npasswords:\n  min_length: 0\n",
			nil,
			[]string{"issuer: line 1:", "keys.algorithm: line 3:", "keys.rsa_bits: line 4:", "keys.encryption_key: line 5: must decode to 32 bytes", "passwords.min_length: line 7:"},
		},
		{
			"clients",
			"clients:\n  - id: a\n    public: true\n    grants: [client_credentials, magic]\n  - id: a\n    secret: short\n    grants: [password]\n  - id: c\n    public: true\n    grants: [authorization_code]\n",
			nil,
			[]string{
				"clients[0].grants: line 4: a public client cannot use client_credentials",
				"clients[0].grants: line 4: unknown grant \"magic\"",
				"clients[1].id: line 5: duplicate client id",
				"clients[1].secret: line 6: must be at least 16 characters",
				"clients[2].redirect_uris: line 8: the authorization_code grant needs", // the client's line: the key is missing
			},
		},
		{"invalid YAML", "tokens: [\n", nil, []string{"invalid YAML"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.file)
			_, err := Load(p, env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %T %v, want *config.Error", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if len(tt.want) > 1 && len(cerr.Problems) < len(tt.want) {
				t.Errorf("got %d problems, want at least %d: %q", len(cerr.Problems), len(tt.want), cerr.Problems)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), env(nil))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestEncryptionKey(t *testing.T) {
	cfg := Default()
	cfg.Keys.EncryptionKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // "0123456789abcdef0123456789abcdef"
	k, err := cfg.EncryptionKey()
	if err != nil || string(k) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("EncryptionKey() = %q, %v", k, err)
	}
	if p := cfg.Validate(); len(p) != 0 {
		t.Errorf("Validate() = %q, want none", p)
	}
}

func TestReservedClientIDs(t *testing.T) {
	p := writeFile(t, "compat:\n  client_id: authd\nclients:\n  - id: authd\n    public: true\n    grants: [password]\n  - id: rest-auth\n    public: true\n    grants: [password]\n")
	_, err := Load(p, env(nil))
	for _, want := range []string{`compat.client_id: line 2: "authd" is reserved`, `clients[0].id: line 4: "authd" is reserved`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to contain %q", err, want)
		}
	}
}

// A value of the wrong type is one problem among all the others, not a
// reason to stop looking; and a problem Validate finds says where the value
// came from.
func TestAllProblemsAtOnce(t *testing.T) {
	p := writeFile(t, "tokens:\n  access_ttl: soon\n  refresh_idle_ttl: [1]\n  refresh_absolute_ttl: 1h\nissuer: ftp://x\nlisten: nonsense\nlog:\n  level: loud\n")
	_, err := Load(p, env(map[string]string{"AUTHD_LOG_FORMAT": "xml"}))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load = %v, want a *config.Error", err)
	}
	want := []string{
		"tokens.access_ttl: line 2: want a duration",
		"tokens.refresh_idle_ttl: line 3: want a duration",
		"issuer: line 5: must be an absolute http(s) URL",
		"listen: line 6: must be host:port",
		"log.level: line 8: must be debug, info, warn or error",
		"log.format (from AUTHD_LOG_FORMAT): must be json or text",
	}
	for _, w := range want {
		if !slices.ContainsFunc(cerr.Problems, func(p string) bool { return strings.HasPrefix(p, w) }) {
			t.Errorf("no problem starting %q in %q", w, cerr.Problems)
		}
	}
	// refresh_idle_ttl keeps its default (336h) after its type error; that
	// it then exceeds refresh_absolute_ttl is no news to report.
	if len(cerr.Problems) != len(want) {
		t.Errorf("got %d problems, want %d: %q", len(cerr.Problems), len(want), cerr.Problems)
	}
}

func TestProblemsSayWhereTheValueCameFrom(t *testing.T) {
	p := writeFile(t, "issuer: https://ok.example\ncors:\n  allowed_origins: ['https://a.example', 'https://b.example/path']\nclients:\n  - id: svc\n    grants: [client_credentials]\n    secret: a-long-enough-secret\n")
	for _, tt := range []struct {
		env  map[string]string
		want []string
	}{
		{nil, []string{"cors.allowed_origins[1]: line 3: must be an origin"}},
		// The environment is read after the file: it is where the value
		// came from, even for a key the file sets.
		{map[string]string{"AUTHD_ISSUER": "ftp://x"}, []string{"issuer (from AUTHD_ISSUER): must be", "cors.allowed_origins[1]: line 3:"}},
		{map[string]string{"AUTHD_CORS_ALLOWED_ORIGINS": "https://c.example/x"}, []string{"cors.allowed_origins[0] (from AUTHD_CORS_ALLOWED_ORIGINS): must be an origin"}},
		{map[string]string{"AUTHD_CLIENTS_0_SECRET": "short"}, []string{"clients[0].secret (from AUTHD_CLIENTS_0_SECRET): must be at least 16"}},
	} {
		_, err := Load(p, env(tt.env))
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("env %v: error %v, want it to contain %q", tt.env, err, w)
			}
		}
	}
}

func TestUnknownEnvironmentVariables(t *testing.T) {
	p := writeFile(t, "clients:\n  - id: a\n    public: true\n    grants: [password]\n  - id: b\n    public: true\n    grants: [password]\n")
	base := []string{"PATH=/bin", "HOME=/root", "AUTHD_CONFIG=" + p, "authd_lower=1"}
	tests := []struct {
		name    string
		environ []string
		other   []string
		want    []string // "" for success
	}{
		{"keys only", []string{"AUTHD_TOKENS_ACCESS_TTL=5m", "AUTHD_CLIENTS_1_SCOPES=openid,profile", "AUTHD_PASSWORDS_ARGON2_ITERATIONS=3"}, nil, nil},
		{"misspelt key", []string{"AUTHD_TOKENS_ACCES_TTL=5m"}, nil,
			[]string{"AUTHD_TOKENS_ACCES_TTL: names no configuration key (did you mean AUTHD_TOKENS_ACCESS_TTL?)"}},
		{"nothing close", []string{"AUTHD_FROBNICATE=1"}, nil, []string{"AUTHD_FROBNICATE: names no configuration key"}},
		{"section, not a key", []string{"AUTHD_TOKENS=x"}, nil, []string{"AUTHD_TOKENS: names no configuration key"}},
		{"client that does not exist", []string{"AUTHD_CLIENTS_5_SECRET=a-long-enough-secret"}, nil,
			[]string{"AUTHD_CLIENTS_5_SECRET: there is no clients[5] to set: the configuration has 2 (clients[0] to clients[1])"}},
		{"client field that does not exist", []string{"AUTHD_CLIENTS_0_SECRT=x"}, nil,
			[]string{"AUTHD_CLIENTS_0_SECRT: names no configuration key (did you mean AUTHD_CLIENTS_0_SECRET?)"}},
		{"empty value still named", []string{"AUTHD_LOG_LEVL="}, nil, []string{"AUTHD_LOG_LEVL: names no configuration key"}},
		{"other variables of authd", []string{"AUTHD_CPUPROFILE=/tmp/x"}, []string{"AUTHD_CPUPROFILE"}, nil},
		{"all at once", []string{"AUTHD_A=1", "AUTHD_B=2", "AUTHD_LOG_LEVEL=loud"}, nil,
			[]string{"AUTHD_A: names", "AUTHD_B: names", "log.level (from AUTHD_LOG_LEVEL): must be"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadEnviron(p, append(slices.Clone(base), tt.environ...), tt.other...)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("LoadEnviron: %v", err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want it to contain %q", err, w)
				}
			}
			if err != nil && strings.Contains(err.Error(), "a-long-enough-secret") {
				t.Errorf("error %v quotes a value", err)
			}
		})
	}
	// The first of two entries of a name counts, as for os.Getenv.
	cfg, err := LoadEnviron("", []string{"AUTHD_LOG_LEVEL=debug", "AUTHD_LOG_LEVEL=loud"})
	if err != nil || cfg.Log.Level != "debug" {
		t.Errorf("LoadEnviron with a name twice: level %q, %v; want debug", cfg.Log.Level, err)
	}
}

func TestListenAddresses(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, ":8080": true, "[::1]:443": true, "localhost:1": true, "0.0.0.0:65535": true,
		"127.0.0.1:0": true, // a free port: tests
		"nonsense":    false, "127.0.0.1": false, "127.0.0.1:": false, "127.0.0.1:http": false,
		"127.0.0.1:65536": false, "127.0.0.1:-1": false, "::1:80": false, "a b:80": false, "http://x:80": false,
	} {
		for _, key := range []string{"listen", "metrics.listen"} {
			cfg := Default()
			if key == "listen" {
				cfg.Listen = addr
				cfg.Metrics.Listen = ""
			} else {
				cfg.Listen = "127.0.0.1:1"
				cfg.Metrics.Listen = addr
			}
			problems := cfg.Validate()
			named := slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, key+": ") })
			if named == ok {
				t.Errorf("%s %q: problems %q, want valid %v", key, addr, problems, ok)
			}
		}
	}
}

func TestNewKeys(t *testing.T) {
	cert := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nope.pem")
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"claims", func(c *Config) { c.Tokens.AccessTokenClaims = []string{"email", "name"} }, ""},
		{"unknown claim", func(c *Config) { c.Tokens.AccessTokenClaims = []string{"email", "phone"} }, `tokens.access_token_claims[1]: unknown claim "phone"`},
		{"claim twice", func(c *Config) { c.Tokens.AccessTokenClaims = []string{"email", "email"} }, `tokens.access_token_claims[1]: claim "email" given twice`},
		{"pool", func(c *Config) { c.DatabasePool = DatabasePool{MaxOpenConns: 1, MaxIdleConns: 0, ConnMaxLifetime: 0} }, ""},
		{"no connections", func(c *Config) { c.DatabasePool.MaxOpenConns = 0 }, "database_pool.max_open_conns: must be at least 1"},
		{"more idle than open", func(c *Config) { c.DatabasePool.MaxIdleConns = 11 }, "database_pool.max_idle_conns: must be between 0 and"},
		{"negative lifetime", func(c *Config) { c.DatabasePool.ConnMaxLifetime = -time.Second }, "database_pool.conn_max_lifetime:"},
		{"tls both", func(c *Config) { c.TLS = TLS{CertFile: cert, KeyFile: cert} }, ""},
		{"tls cert only", func(c *Config) { c.TLS.CertFile = cert }, "tls.key_file: must be set when tls.cert_file is"},
		{"tls key only", func(c *Config) { c.TLS.KeyFile = cert }, "tls.cert_file: must be set when tls.key_file is"},
		{"tls file missing", func(c *Config) { c.TLS = TLS{CertFile: cert, KeyFile: missing} }, "tls.key_file: cannot read"},
		{"tls folder", func(c *Config) { c.TLS = TLS{CertFile: filepath.Dir(cert), KeyFile: cert} }, "tls.cert_file: " + strconvQuote(filepath.Dir(cert)) + " is not a regular file"},
		{"site name", func(c *Config) { c.Web.SiteName = "Example ID" }, ""},
		{"empty site name", func(c *Config) { c.Web.SiteName = "" }, "web.site_name: must not be empty"},
		{"site name with a newline", func(c *Config) { c.Web.SiteName = "a\nb" }, "web.site_name: must not contain control"},
		{"client name", func(c *Config) {
			c.Clients = []Client{{ID: "a", Name: "App\u202e", Public: true, Grants: []string{"password"}}}
		}, "clients[0].name: must not contain control"},
		{"require_tls", func(c *Config) { c.Mail.RequireTLS = "yes" }, `mail.require_tls: must be true, false or auto, got "yes"`},
		{"old password optional", func(c *Config) { c.Compat.OldPasswordRequired = false }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.edit(&cfg)
			problems := cfg.Validate()
			if tt.want == "" {
				if len(problems) > 0 {
					t.Errorf("Validate = %q, want none", problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, tt.want) }) {
				t.Errorf("Validate = %q, want one starting %q", problems, tt.want)
			}
		})
	}
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func TestMailTLSRequired(t *testing.T) {
	for _, tt := range []struct {
		requireTLS, addr string
		want             bool
	}{
		{"auto", "", false},
		{"auto", "smtp.example.com:587", true},
		{"auto", "192.0.2.1:25", true},
		{"auto", "localhost:25", false},
		{"auto", "127.0.0.1:25", false},
		{"auto", "127.9.9.9:25", false},
		{"auto", "[::1]:25", false},
		{"true", "127.0.0.1:25", true},
		{"false", "smtp.example.com:587", false},
	} {
		if got := (Mail{RequireTLS: tt.requireTLS, SMTPAddr: tt.addr}).TLSRequired(); got != tt.want {
			t.Errorf("require_tls %s, smtp_addr %q: TLSRequired = %v, want %v", tt.requireTLS, tt.addr, got, tt.want)
		}
	}
}

// LoadVars takes the values from getenv and checks the names it is given.
func TestLoadVars(t *testing.T) {
	getenv := env(map[string]string{"AUTHD_LOG_LEVEL": "debug", "AUTHD_LOG_LEVL": "x"})
	cfg, err := LoadVars("", getenv, []string{"AUTHD_LOG_LEVEL"})
	if err != nil || cfg.Log.Level != "debug" {
		t.Errorf("LoadVars = level %q, %v; want debug", cfg.Log.Level, err)
	}
	if _, err := LoadVars("", getenv, []string{"AUTHD_LOG_LEVEL", "AUTHD_LOG_LEVL"}); err == nil || !strings.Contains(err.Error(), "AUTHD_LOG_LEVL: names no configuration key") {
		t.Errorf("LoadVars with an unknown name = %v", err)
	}
	if _, err := LoadVars("", getenv, nil); err != nil {
		t.Errorf("LoadVars with no names = %v", err)
	}
}
