// Package config loads authd's configuration: built-in defaults, then a YAML
// file, then AUTHD_* environment variables, then validation.
//
// Every key is addressed by its path (tokens.access_ttl), and every problem
// found (an unknown key, a value of the wrong type, an invalid value, an
// AUTHD_ variable that names no key) is reported with that path and with
// the line of the file or the variable the value came from, all of them at
// once, so an operator fixes a config file in one pass.
// config.example.yaml mirrors the Config struct and documents every key
// with its default; a test keeps the two in step.
package config

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Config is the whole configuration. Field comments give each default.
type Config struct {
	// Issuer is the iss of every token and the base URL of every link authd
	// mails. Default http://localhost:8080. Must be an absolute http(s) URL
	// without query or fragment.
	Issuer string `yaml:"issuer"`
	// Listen is the address the HTTP server listens on. Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// Database is where authd keeps its state: a SQLite file path, or a
	// PostgreSQL database as a postgres:// or postgresql:// URL
	// (postgres://user:password@host:5432/authd?sslmode=verify-full; the
	// URL may also use libpq's PG* environment variables and ~/.pgpass).
	// serve and migrate create a missing SQLite file, with its folder, or
	// authd's tables in an empty PostgreSQL database; the other commands
	// refuse to run without them. Default ./data/authd.db.
	Database string `yaml:"database"`
	// DatabaseSynchronous is SQLite's synchronous mode: FULL (default; every
	// commit survives power loss), NORMAL (survives a process crash, may lose
	// the last commits on power loss) or OFF (tests only). PostgreSQL's
	// durability is the server's own setting (synchronous_commit).
	DatabaseSynchronous string `yaml:"database_synchronous"`

	DatabasePool DatabasePool `yaml:"database_pool"`
	TLS          TLS          `yaml:"tls"`
	Tokens       Tokens       `yaml:"tokens"`
	Keys         Keys         `yaml:"keys"`
	Passwords    Passwords    `yaml:"passwords"`
	Mail         Mail         `yaml:"mail"`
	Clients      []Client     `yaml:"clients"`
	CORS         CORS         `yaml:"cors"`
	Compat       Compat       `yaml:"compat"`
	Throttle     Throttle     `yaml:"throttle"`
	HTTP         HTTP         `yaml:"http"`
	Metrics      Metrics      `yaml:"metrics"`
	Web          Web          `yaml:"web"`
	Log          Log          `yaml:"log"`
}

// DatabasePool sizes the pool of connections to a PostgreSQL database
// (SQLite has its own: one writer and a few readers on the file).
type DatabasePool struct {
	// MaxOpenConns bounds the connections open at once. Default 10.
	MaxOpenConns int `yaml:"max_open_conns"`
	// MaxIdleConns bounds the idle connections kept open; at most
	// max_open_conns. Default 5. The PostgreSQL pool (pgx) has no such
	// bound: it closes a connection idle for 30 minutes instead, and
	// ignores this key.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// ConnMaxLifetime closes a connection this long after it opened; 0
	// keeps connections for ever. Default 30m.
	ConnMaxLifetime time.Duration `yaml:"conn_max_lifetime"`
}

// IsPostgresURL reports whether database (the database key) names a
// PostgreSQL database, a postgres:// or postgresql:// URL, rather than a
// SQLite file.
func IsPostgresURL(database string) bool {
	scheme, _, ok := strings.Cut(database, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// checkDatabase accepts a file path or a PostgreSQL URL; anything else
// with a scheme (mysql://, sqlite://, file:…) is most likely a mistake
// that would otherwise become a SQLite file of that odd name.
func checkDatabase(database string) error {
	if database == "" {
		return errors.New("must not be empty")
	}
	if IsPostgresURL(database) {
		u, err := url.Parse(database)
		if err != nil {
			// url's error quotes the URL, password included.
			return errors.New("is not a valid postgres:// URL")
		}
		if u.Opaque != "" || u.Fragment != "" {
			return errors.New("is not a valid postgres:// URL")
		}
		return nil
	}
	if scheme, _, ok := strings.Cut(database, "://"); ok && !strings.ContainsAny(scheme, `/\`) {
		return fmt.Errorf("must be a SQLite file path or a postgres:// URL, not a %s:// URL", scheme)
	}
	if strings.HasPrefix(database, "file:") {
		return errors.New("must be a SQLite file path, not a file: URI")
	}
	return nil
}

// TLS makes the main listener serve HTTPS (and HTTP/2).
type TLS struct {
	// CertFile is a PEM certificate chain, leaf first. Default "": plain
	// HTTP. Set with KeyFile; both are read again on SIGHUP.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the certificate. Default "".
	KeyFile string `yaml:"key_file"`
}

// Metrics sets where Prometheus metrics are served.
type Metrics struct {
	// Listen is a separate address for GET /metrics, reachable only by the
	// scraper. Default 127.0.0.1:9464; "" serves /metrics on the main
	// listener.
	Listen string `yaml:"listen"`
}

// Web sets the hosted pages and mails.
type Web struct {
	// SiteName names the service in page titles and mails. Default authd.
	SiteName string `yaml:"site_name"`
}

// Tokens sets token contents and lifetimes.
type Tokens struct {
	// Audience is the aud of access tokens. Default [api].
	Audience []string `yaml:"audience"`
	// AccessTTL is the lifetime of access tokens. Default 15m.
	AccessTTL time.Duration `yaml:"access_ttl"`
	// IDTTL is the lifetime of ID tokens. Default 15m.
	IDTTL time.Duration `yaml:"id_ttl"`
	// RefreshIdleTTL: a refresh token unused this long expires. Default 336h.
	RefreshIdleTTL time.Duration `yaml:"refresh_idle_ttl"`
	// RefreshAbsoluteTTL: a session never outlives this. Default 2160h.
	RefreshAbsoluteTTL time.Duration `yaml:"refresh_absolute_ttl"`
	// RefreshReuseGrace: within this of a rotation, the same client
	// presenting the spent token gets the same new tokens again; after it,
	// reuse revokes the family. 0 disables the grace. Default 5s.
	RefreshReuseGrace time.Duration `yaml:"refresh_reuse_grace"`
	// AccessTokenClaims are the user claims access tokens carry besides
	// sub: any of preferred_username, email, email_verified and name.
	// Default [] (none).
	AccessTokenClaims []string `yaml:"access_token_claims"`
}

// AccessTokenClaimNames are the claims tokens.access_token_claims may name.
var AccessTokenClaimNames = []string{"preferred_username", "email", "email_verified", "name"}

// Keys sets the signing-key lifecycle.
type Keys struct {
	// Algorithm of newly generated keys: RS256 (default) or EdDSA.
	Algorithm string `yaml:"algorithm"`
	// RSABits is the RSA modulus size: 2048 (default), 3072 or 4096.
	RSABits int `yaml:"rsa_bits"`
	// RotateEvery is the automatic rotation period; 0 disables. Default 720h.
	RotateEvery time.Duration `yaml:"rotate_every"`
	// ReloadInterval is how soon a server sees keys changed by another
	// process. Default 10s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// JWKSMaxAge is the Cache-Control max-age of the JWKS, and the least time
	// a next key is published before automatic rotation promotes it.
	// Default 5m.
	JWKSMaxAge time.Duration `yaml:"jwks_max_age"`
	// EncryptionKey is a base64 32-byte key sealing private keys at rest.
	// Default "" (unsealed, with a warning). Set it from the environment
	// (AUTHD_KEYS_ENCRYPTION_KEY) in production.
	EncryptionKey string `yaml:"encryption_key"`
}

// Passwords sets password rules and hashing cost.
type Passwords struct {
	// MinLength in characters. Default 8.
	MinLength int `yaml:"min_length"`
	// MaxLength in characters. Default 256.
	MaxLength int `yaml:"max_length"`
	// Argon2 are the argon2id parameters of new hashes.
	Argon2 Argon2 `yaml:"argon2"`
	// MaxConcurrent bounds hashes computed at once (and so memory:
	// MaxConcurrent × argon2.memory_kib). 0 (default) means the number of CPUs.
	MaxConcurrent int `yaml:"max_concurrent"`
	// QueueWait is how long a login waits for a hashing slot before the
	// server answers 503 with Retry-After. Default 2s.
	QueueWait time.Duration `yaml:"queue_wait"`
}

// Argon2 are argon2id parameters (RFC 9106). Defaults are OWASP's
// recommendation: 19456 KiB, 2 iterations, parallelism 1.
type Argon2 struct {
	MemoryKiB   uint32 `yaml:"memory_kib"`
	Iterations  uint32 `yaml:"iterations"`
	Parallelism uint8  `yaml:"parallelism"`
}

// Mail sets outgoing mail.
type Mail struct {
	// SMTPAddr is host:port of an SMTP server. Default "": mails are logged
	// (links redacted unless log_links).
	SMTPAddr string `yaml:"smtp_addr"`
	// From is the envelope and header sender. Default authd@localhost.
	From string `yaml:"from"`
	// Username and Password for SMTP AUTH PLAIN (sent only over TLS or to
	// localhost). Default "".
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Timeout bounds one SMTP conversation. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// RequireTLS refuses to send mail to a server that does not offer
	// STARTTLS: true, false, or auto (default), which is true unless
	// smtp_addr is empty or on this machine (localhost, 127.0.0.0/8, ::1).
	// See TLSRequired.
	RequireTLS string `yaml:"require_tls"`
	// LogLinks logs mails with their links intact when smtp_addr is empty:
	// for local development only. Default false.
	LogLinks bool `yaml:"log_links"`
}

// Client is an OAuth client.
type Client struct {
	// ID is the client_id. Required, unique.
	ID string `yaml:"id"`
	// Name is shown to users instead of the id, e.g. on the sign-in page.
	// Optional.
	Name string `yaml:"name"`
	// Secret of a confidential client. Required unless public.
	Secret string `yaml:"secret"`
	// Public clients have no secret (SPAs, mobile apps).
	Public bool `yaml:"public"`
	// Grants the client may use: password, refresh_token,
	// client_credentials, authorization_code.
	Grants []string `yaml:"grants"`
	// RedirectURIs for the authorization code flow, matched exactly.
	RedirectURIs []string `yaml:"redirect_uris"`
	// PostLogoutRedirectURIs for RP-initiated logout, matched exactly.
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	// Scopes the client may ask for.
	Scopes []string `yaml:"scopes"`
}

// CORS sets which browser origins may call the API.
type CORS struct {
	// AllowedOrigins, exact match (scheme://host[:port]). Default [].
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// Compat sets the Django-era compatibility paths.
type Compat struct {
	// RestAuth serves the django-rest-auth + djangorestframework-jwt paths.
	// Default true.
	RestAuth bool `yaml:"rest_auth"`
	// ClientID is the client_id of tokens issued at the Django-era paths
	// (not a client of the token endpoint). Default rest-auth.
	ClientID string `yaml:"client_id"`
	// RefreshExpiration is how long after the original login
	// /refresh-token/ keeps issuing new tokens (djangorestframework-jwt's
	// JWT_REFRESH_EXPIRATION_DELTA). Default 168h.
	RefreshExpiration time.Duration `yaml:"refresh_expiration"`
	// OldPasswordRequired makes /rest-auth/password/change/ ask for the
	// current password (django-rest-auth's OLD_PASSWORD_FIELD_ENABLED).
	// Default true.
	OldPasswordRequired bool `yaml:"old_password_required"`
}

// Throttle sets the limits against guessing and flooding.
// Failed logins make an account, and separately a client address, wait:
// past the threshold each failure adds wait_increment, up to max_wait;
// counts reset after failure_reset without failures.
type Throttle struct {
	// AccountFailures before an account must wait. Default 30.
	AccountFailures int `yaml:"account_failures"`
	// AddressFailures before a client address must wait. Default 100.
	AddressFailures int `yaml:"address_failures"`
	// WaitIncrement added per failure past the threshold. Default 1m.
	WaitIncrement time.Duration `yaml:"wait_increment"`
	// MaxWait caps the wait. Default 15m.
	MaxWait time.Duration `yaml:"max_wait"`
	// FailureReset forgets failures after this long without one. Default 12h.
	FailureReset time.Duration `yaml:"failure_reset"`
	// RegistrationsPerHour per client address. Default 20.
	RegistrationsPerHour int `yaml:"registrations_per_hour"`
	// ResetRequestsPerHour (password reset requests) per client address.
	// Default 20.
	ResetRequestsPerHour int `yaml:"reset_requests_per_hour"`
	// ResetMailsPerHour per account: more requests are answered the same
	// but send nothing. Default 3.
	ResetMailsPerHour int `yaml:"reset_mails_per_hour"`
}

// HTTP sets server limits.
type HTTP struct {
	// MaxBodyBytes caps request bodies (413 beyond). Default 65536.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadHeaderTimeout protects against slow clients (slowloris). Default 5s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request. Default 15s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response. Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout is how long in-flight requests may run after SIGTERM.
	// Default 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed for the
	// client address. Default [] (the connection's address is used).
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Log sets logging.
type Log struct {
	// Level: debug, info (default), warn, error.
	Level string `yaml:"level"`
	// Format: json (default) or text.
	Format string `yaml:"format"`
}

// Default returns the built-in configuration: what authd runs with when no
// file is given.
func Default() Config {
	return Config{
		Issuer:              "http://localhost:8080",
		Listen:              "127.0.0.1:8080",
		Database:            "./data/authd.db",
		DatabaseSynchronous: "FULL",
		DatabasePool: DatabasePool{
			MaxOpenConns:    10,
			MaxIdleConns:    5,
			ConnMaxLifetime: 30 * time.Minute,
		},
		Tokens: Tokens{
			Audience:           []string{"api"},
			AccessTTL:          15 * time.Minute,
			IDTTL:              15 * time.Minute,
			RefreshIdleTTL:     336 * time.Hour,
			RefreshAbsoluteTTL: 2160 * time.Hour,
			RefreshReuseGrace:  5 * time.Second,
		},
		Keys: Keys{
			Algorithm:      "RS256",
			RSABits:        2048,
			RotateEvery:    720 * time.Hour,
			ReloadInterval: 10 * time.Second,
			JWKSMaxAge:     5 * time.Minute,
		},
		Passwords: Passwords{
			MinLength: 8,
			MaxLength: 256,
			Argon2:    Argon2{MemoryKiB: 19456, Iterations: 2, Parallelism: 1},
			QueueWait: 2 * time.Second,
		},
		Mail: Mail{
			From:       "authd@localhost",
			Timeout:    10 * time.Second,
			RequireTLS: "auto",
		},
		Compat: Compat{RestAuth: true, ClientID: "rest-auth", RefreshExpiration: 168 * time.Hour, OldPasswordRequired: true},
		Throttle: Throttle{
			AccountFailures:      30,
			AddressFailures:      100,
			WaitIncrement:        time.Minute,
			MaxWait:              15 * time.Minute,
			FailureReset:         12 * time.Hour,
			RegistrationsPerHour: 20,
			ResetRequestsPerHour: 20,
			ResetMailsPerHour:    3,
		},
		HTTP: HTTP{
			MaxBodyBytes:      64 << 10,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   15 * time.Second,
		},
		Metrics: Metrics{Listen: "127.0.0.1:9464"},
		Web:     Web{SiteName: "authd"},
		Log:     Log{Level: "info", Format: "json"},
	}
}

// Error lists every problem found in a configuration, each naming its key.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "config: " + e.Problems[0]
	}
	return fmt.Sprintf("config: %d problems: %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// PathVar is the variable that names the configuration file when no
// --config flag does. It is not a key.
const PathVar = "AUTHD_CONFIG"

// Load builds the configuration from the defaults, the YAML file at path
// (skipped when path is ""), and the AUTHD_* variables that getenv returns.
// It returns an *Error listing every problem when any is found: each value
// of the wrong type (which keeps its default meanwhile) and each unknown
// key of the file, then each invalid value, with the line of the file or
// the variable it came from.
func Load(path string, getenv func(string) string) (Config, error) {
	return load(path, getenv, nil, nil)
}

// LoadEnviron is Load with the variables of environ, KEY=VALUE entries as
// os.Environ returns them (the first of a name counts, as for os.Getenv).
// Since it sees every variable, it also finds those that set nothing: an
// AUTHD_ variable that names no key (AUTHD_TOKENS_ACCES_TTL) or a client
// the configuration does not have (AUTHD_CLIENTS_5_SECRET with two
// clients) is a problem. PathVar and the names in other, variables of authd
// that are not keys, are let through.
func LoadEnviron(path string, environ []string, other ...string) (Config, error) {
	vars := map[string]string{}
	var names []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := vars[k]; !ok {
			vars[k] = v
			names = append(names, k)
		}
	}
	getenv := func(k string) string { return vars[k] }
	return LoadVars(path, getenv, names, other...)
}

// LoadVars is LoadEnviron for a caller with its own getenv: names are the
// variables set, whose values getenv returns.
func LoadVars(path string, getenv func(string) string, names []string, other ...string) (Config, error) {
	if names == nil {
		names = []string{}
	}
	return load(path, getenv, names, append([]string{PathVar}, other...))
}

// load is Load; names, when not nil, are the variables to check against
// the keys, but for those in allowed.
func load(path string, getenv func(string) string, names, allowed []string) (Config, error) {
	cfg := Default()
	o := newOrigins()
	var problems []string
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		problems = append(problems, decodeYAML(data, &cfg, o)...)
	}
	envProblems, known := applyEnv(&cfg, getenv, o)
	problems = append(problems, envProblems...)
	if names != nil {
		problems = append(problems, known.unknown(names, allowed)...)
	}
	for _, p := range cfg.Validate() {
		key, reason, _ := strings.Cut(p, ": ")
		if o.refused(key) {
			continue
		}
		if w := o.where(key); w != "" {
			if strings.HasPrefix(w, "(") {
				p = key + " " + w + ": " + reason
			} else {
				p = key + ": " + w + ": " + reason
			}
		}
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return Config{}, &Error{Problems: problems}
	}
	return cfg, nil
}

// ReservedClientID is the client id of the sign-in sessions of authd's own
// pages; no configured client may use it.
const ReservedClientID = "authd"

// Grant names a client may be given.
var grantNames = []string{"password", "refresh_token", "client_credentials", "authorization_code"}

// Validate reports every invalid value, each as "key: reason".
func (c *Config) Validate() []string {
	var p []string
	add := func(key, format string, args ...any) {
		p = append(p, key+": "+fmt.Sprintf(format, args...))
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		add("issuer", "must be an absolute http(s) URL without query or fragment, got %q", c.Issuer)
	} else if strings.HasSuffix(c.Issuer, "/") {
		add("issuer", "must not end with a slash, got %q", c.Issuer)
	}
	if err := checkListen(c.Listen); err != nil {
		add("listen", "%v", err)
	}
	if err := checkDatabase(c.Database); err != nil {
		add("database", "%v", err)
	}
	if !slices.Contains([]string{"FULL", "NORMAL", "OFF"}, c.DatabaseSynchronous) {
		add("database_synchronous", "must be FULL, NORMAL or OFF, got %q", c.DatabaseSynchronous)
	}
	dp := c.DatabasePool
	if dp.MaxOpenConns < 1 {
		add("database_pool.max_open_conns", "must be at least 1, got %d", dp.MaxOpenConns)
	}
	if dp.MaxIdleConns < 0 || dp.MaxIdleConns > max(dp.MaxOpenConns, 1) {
		add("database_pool.max_idle_conns", "must be between 0 and database_pool.max_open_conns (%d), got %d", dp.MaxOpenConns, dp.MaxIdleConns)
	}
	if dp.ConnMaxLifetime < 0 {
		add("database_pool.conn_max_lifetime", "must be 0 (no limit) or positive, got %s", dp.ConnMaxLifetime)
	}
	switch {
	case c.TLS.CertFile == "" && c.TLS.KeyFile == "":
	case c.TLS.CertFile == "":
		add("tls.cert_file", "must be set when tls.key_file is")
	case c.TLS.KeyFile == "":
		add("tls.key_file", "must be set when tls.cert_file is")
	default:
		for _, f := range []struct{ key, path string }{{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}} {
			if fi, err := os.Stat(f.path); err != nil {
				add(f.key, "cannot read %q: %v", f.path, errors.Unwrap(err))
			} else if !fi.Mode().IsRegular() {
				add(f.key, "%q is not a regular file", f.path)
			}
		}
	}

	if len(c.Tokens.Audience) == 0 {
		add("tokens.audience", "must name at least one audience")
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			add(key, "must be positive, got %s", d)
		}
	}
	positive("tokens.access_ttl", c.Tokens.AccessTTL)
	positive("tokens.id_ttl", c.Tokens.IDTTL)
	positive("tokens.refresh_idle_ttl", c.Tokens.RefreshIdleTTL)
	positive("tokens.refresh_absolute_ttl", c.Tokens.RefreshAbsoluteTTL)
	if c.Tokens.RefreshReuseGrace < 0 || c.Tokens.RefreshReuseGrace > time.Minute {
		add("tokens.refresh_reuse_grace", "must be between 0 and 1m, got %s", c.Tokens.RefreshReuseGrace)
	}
	if c.Tokens.RefreshIdleTTL > c.Tokens.RefreshAbsoluteTTL {
		add("tokens.refresh_idle_ttl", "must not exceed tokens.refresh_absolute_ttl")
	}
	for i, claim := range c.Tokens.AccessTokenClaims {
		key := fmt.Sprintf("tokens.access_token_claims[%d]", i)
		switch {
		case !slices.Contains(AccessTokenClaimNames, claim):
			add(key, "unknown claim %q (known: %s)", claim, strings.Join(AccessTokenClaimNames, ", "))
		case slices.Contains(c.Tokens.AccessTokenClaims[:i], claim):
			add(key, "claim %q given twice", claim)
		}
	}

	if c.Keys.Algorithm != "RS256" && c.Keys.Algorithm != "EdDSA" {
		add("keys.algorithm", "must be RS256 or EdDSA, got %q", c.Keys.Algorithm)
	}
	if !slices.Contains([]int{2048, 3072, 4096}, c.Keys.RSABits) {
		add("keys.rsa_bits", "must be 2048, 3072 or 4096, got %d", c.Keys.RSABits)
	}
	if c.Keys.RotateEvery < 0 {
		add("keys.rotate_every", "must be 0 (off) or positive, got %s", c.Keys.RotateEvery)
	}
	positive("keys.reload_interval", c.Keys.ReloadInterval)
	if c.Keys.JWKSMaxAge < 0 {
		add("keys.jwks_max_age", "must not be negative, got %s", c.Keys.JWKSMaxAge)
	}
	if c.Keys.RotateEvery > 0 && c.Keys.RotateEvery < c.Keys.JWKSMaxAge {
		add("keys.rotate_every", "must be at least keys.jwks_max_age (%s), got %s", c.Keys.JWKSMaxAge, c.Keys.RotateEvery)
	}
	if _, err := c.EncryptionKey(); err != nil {
		add("keys.encryption_key", "%v", err)
	}

	if c.Passwords.MinLength < 1 {
		add("passwords.min_length", "must be at least 1, got %d", c.Passwords.MinLength)
	}
	if c.Passwords.MaxLength < c.Passwords.MinLength || c.Passwords.MaxLength > 4096 {
		add("passwords.max_length", "must be between passwords.min_length and 4096, got %d", c.Passwords.MaxLength)
	}
	a := c.Passwords.Argon2
	if a.MemoryKiB < 8*uint32(max(a.Parallelism, 1)) || a.MemoryKiB > 4<<20 {
		add("passwords.argon2.memory_kib", "must be between 8×parallelism and 4194304, got %d", a.MemoryKiB)
	}
	if a.Iterations < 1 || a.Iterations > 100 {
		add("passwords.argon2.iterations", "must be between 1 and 100, got %d", a.Iterations)
	}
	if a.Parallelism < 1 {
		add("passwords.argon2.parallelism", "must be at least 1, got %d", a.Parallelism)
	}
	if c.Passwords.MaxConcurrent < 0 {
		add("passwords.max_concurrent", "must be 0 (number of CPUs) or positive, got %d", c.Passwords.MaxConcurrent)
	}
	if c.Passwords.QueueWait < 0 {
		add("passwords.queue_wait", "must not be negative, got %s", c.Passwords.QueueWait)
	}

	if c.Mail.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.Mail.SMTPAddr); err != nil {
			add("mail.smtp_addr", "must be host:port, got %q", c.Mail.SMTPAddr)
		}
	}
	if c.Mail.From == "" || strings.ContainsAny(c.Mail.From, "\r\n<>") {
		add("mail.from", "must be a bare address, got %q", c.Mail.From)
	}
	positive("mail.timeout", c.Mail.Timeout)
	if !slices.Contains([]string{"auto", "true", "false"}, c.Mail.RequireTLS) {
		add("mail.require_tls", "must be true, false or auto, got %q", c.Mail.RequireTLS)
	}

	p = append(p, c.validateClients()...)

	for i, o := range c.CORS.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			add(fmt.Sprintf("cors.allowed_origins[%d]", i), "must be an origin such as https://app.example.com, got %q", o)
		}
	}

	if c.Compat.ClientID == "" {
		add("compat.client_id", "must not be empty")
	}
	if c.Compat.ClientID == ReservedClientID {
		add("compat.client_id", "%q is reserved for sign-in sessions of the hosted pages", ReservedClientID)
	}
	for i, cl := range c.Clients {
		if cl.ID == c.Compat.ClientID {
			add("compat.client_id", "%q is also the id of a configured client", cl.ID)
		}
		if cl.ID == ReservedClientID {
			add(fmt.Sprintf("clients[%d].id", i), "%q is reserved for sign-in sessions of the hosted pages", cl.ID)
		}
	}
	positive("compat.refresh_expiration", c.Compat.RefreshExpiration)
	if err := checkLabel(c.Web.SiteName); err != nil {
		add("web.site_name", "%v", err)
	}
	atLeastOne := func(key string, n int) {
		if n < 1 {
			add(key, "must be at least 1, got %d", n)
		}
	}
	atLeastOne("throttle.account_failures", c.Throttle.AccountFailures)
	atLeastOne("throttle.address_failures", c.Throttle.AddressFailures)
	atLeastOne("throttle.registrations_per_hour", c.Throttle.RegistrationsPerHour)
	atLeastOne("throttle.reset_requests_per_hour", c.Throttle.ResetRequestsPerHour)
	atLeastOne("throttle.reset_mails_per_hour", c.Throttle.ResetMailsPerHour)
	positive("throttle.wait_increment", c.Throttle.WaitIncrement)
	positive("throttle.max_wait", c.Throttle.MaxWait)
	positive("throttle.failure_reset", c.Throttle.FailureReset)

	if c.HTTP.MaxBodyBytes < 1024 || c.HTTP.MaxBodyBytes > 16<<20 {
		add("http.max_body_bytes", "must be between 1024 and 16777216, got %d", c.HTTP.MaxBodyBytes)
	}
	positive("http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	positive("http.read_timeout", c.HTTP.ReadTimeout)
	positive("http.write_timeout", c.HTTP.WriteTimeout)
	positive("http.idle_timeout", c.HTTP.IdleTimeout)
	positive("http.shutdown_timeout", c.HTTP.ShutdownTimeout)
	for i, cidr := range c.HTTP.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			add(fmt.Sprintf("http.trusted_proxies[%d]", i), "must be a CIDR such as 10.0.0.0/8, got %q", cidr)
		}
	}

	if c.Metrics.Listen != "" {
		if err := checkListen(c.Metrics.Listen); err != nil {
			add("metrics.listen", "%v", err)
		} else if c.Metrics.Listen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			add("metrics.listen", "must differ from listen (leave it empty to serve /metrics there)")
		}
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		add("log.format", "must be json or text, got %q", c.Log.Format)
	}
	return p
}

func (c *Config) validateClients() []string {
	var p []string
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		add := func(field, format string, args ...any) {
			p = append(p, key+"."+field+": "+fmt.Sprintf(format, args...))
		}
		switch {
		case cl.ID == "":
			add("id", "must not be empty")
		case seen[cl.ID]:
			add("id", "duplicate client id %q", cl.ID)
		case strings.ContainsFunc(cl.ID, func(r rune) bool { return r < 0x21 || r > 0x7e || r == ':' }):
			add("id", "must be printable ASCII without spaces or ':', got %q", cl.ID)
		}
		seen[cl.ID] = true
		if cl.Name != "" {
			if err := checkLabel(cl.Name); err != nil {
				add("name", "%v", err)
			}
		}
		if cl.Public && cl.Secret != "" {
			add("secret", "a public client has no secret")
		}
		if !cl.Public && cl.Secret == "" {
			add("secret", "a confidential client needs a secret (or set public: true)")
		}
		if !cl.Public && cl.Secret != "" && len(cl.Secret) < 16 {
			add("secret", "must be at least 16 characters")
		}
		if len(cl.Grants) == 0 {
			add("grants", "must name at least one grant")
		}
		for _, g := range cl.Grants {
			if !slices.Contains(grantNames, g) {
				add("grants", "unknown grant %q (known: %s)", g, strings.Join(grantNames, ", "))
			}
			if g == "client_credentials" && cl.Public {
				add("grants", "a public client cannot use client_credentials")
			}
		}
		if slices.Contains(cl.Grants, "authorization_code") && len(cl.RedirectURIs) == 0 {
			add("redirect_uris", "the authorization_code grant needs at least one redirect URI")
		}
		for _, list := range []struct {
			key  string
			uris []string
		}{{"redirect_uris", cl.RedirectURIs}, {"post_logout_redirect_uris", cl.PostLogoutRedirectURIs}} {
			for j, r := range list.uris {
				u, err := url.Parse(r)
				if err != nil || !u.IsAbs() || u.Fragment != "" || u.Host == "" {
					add(fmt.Sprintf("%s[%d]", list.key, j), "must be an absolute URI without fragment, got %q", r)
				}
			}
		}
		for _, s := range cl.Scopes {
			if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }) {
				add("scopes", "invalid scope token %q (RFC 6749 §3.3)", s)
			}
		}
	}
	return p
}

// checkListen checks a listen address: host:port, the host a name, an IP
// address or empty (every interface), the port a number from 0 to 65535 (0
// picks a free port, for tests).
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	if strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || strings.ContainsRune("/?#@", r) }) {
		return fmt.Errorf("must be host:port with a host name or IP address, got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("must be host:port with a port from 1 to 65535 (or 0 for any free port), got %q", addr)
	}
	return nil
}

// checkLabel checks a name shown to users: 1 to 100 characters, none of
// them a control or format character.
func checkLabel(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case !utf8.ValidString(s):
		return errors.New("must be valid UTF-8")
	case utf8.RuneCountInString(s) > 100:
		return fmt.Errorf("must be at most 100 characters, got %d", utf8.RuneCountInString(s))
	case strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) }):
		return fmt.Errorf("must not contain control or invisible characters, got %q", s)
	}
	return nil
}

// TLSRequired is the effective mail.require_tls: true or false as set, and
// for auto, true unless smtp_addr is empty or on this machine.
func (m Mail) TLSRequired() bool {
	switch m.RequireTLS {
	case "true":
		return true
	case "false":
		return false
	}
	if m.SMTPAddr == "" {
		return false
	}
	host, _, err := net.SplitHostPort(m.SMTPAddr)
	if err != nil {
		return true
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// EncryptionKey decodes keys.encryption_key; nil when unset.
func (c *Config) EncryptionKey() ([]byte, error) {
	if c.Keys.EncryptionKey == "" {
		return nil, nil
	}
	k, err := base64.StdEncoding.DecodeString(c.Keys.EncryptionKey)
	if err != nil {
		k, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(c.Keys.EncryptionKey, "="))
	}
	if err != nil {
		return nil, errors.New("must be base64")
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("must decode to 32 bytes, got %d", len(k))
	}
	return k, nil
}

// MaxTokenTTL is the longest lifetime of any token a signing key signs.
func (c *Config) MaxTokenTTL() time.Duration {
	return max(c.Tokens.AccessTTL, c.Tokens.IDTTL)
}

// Fingerprint is a short hash of the effective configuration without
// secrets, for the start-up log line.
func (c *Config) Fingerprint() string {
	red := *c
	red.Keys.EncryptionKey = ""
	red.Mail.Password = ""
	red.Clients = nil
	for _, cl := range c.Clients {
		cl.Secret = ""
		red.Clients = append(red.Clients, cl)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%+v", red))
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}
