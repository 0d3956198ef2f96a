package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	_ "modernc.org/sqlite" // the driver authd uses, for the commit-rate bound

	"github.com/authd/authd/keys"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/password"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/token"
)

// The bounds: what a scenario cannot beat on this machine, measured in the
// same run. For the token scenarios, a bare net/http server in this process
// does only the scenario's crypto and writes a JSON answer of the same
// shape, and the same load generator drives it at the same concurrency
// with the same requests. No routing, no middleware, no form parsing, no
// database: the ratio achieved/bound is the share of the machine authd's
// own work leaves to the crypto.

var b64 = base64.RawURLEncoding

// The claim and response types are authd's own, so that the bound marshals
// exactly the JSON authd does.
type (
	accessClaims     = token.Access
	idClaims         = token.ID
	tokenResponse    = token.Response
	introspection    = oauth.Introspection
	userinfoResponse = oauth.Userinfo
)

// jose signs and verifies compact JWS with one key, the minimal way:
// pre-encoded headers, one JSON marshal, one signature.
type jose struct {
	alg   string
	kid   string
	ed    ed25519.PrivateKey
	edPub ed25519.PublicKey
	rsa   *rsa.PrivateKey
	hdrAT string // base64url header with typ at+jwt, and '.'
	hdrID string // with typ JWT
}

// newJOSE generates a key for alg ("RS256" with rsaBits, or "EdDSA").
func newJOSE(alg string, rsaBits int) (*jose, error) {
	j := &jose{alg: alg, kid: "authbench-" + strings.ToLower(alg)}
	switch alg {
	case keys.EdDSA:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		j.ed, j.edPub = priv, pub
	case keys.RS256:
		priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, err
		}
		j.rsa = priv
	default:
		return nil, fmt.Errorf("algorithm %q not supported", alg)
	}
	hdr := func(typ string) string {
		b, _ := json.Marshal(struct {
			Alg string `json:"alg"`
			Kid string `json:"kid"`
			Typ string `json:"typ"`
		}{alg, j.kid, typ})
		return b64.EncodeToString(b) + "."
	}
	j.hdrAT, j.hdrID = hdr(keys.TypeAccessToken), hdr(keys.TypeIDToken)
	return j, nil
}

// sign returns claims as a compact JWS after the encoded header hdr.
func (j *jose) sign(hdr string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 0, len(hdr)+b64.EncodedLen(len(payload))+1+b64.EncodedLen(512))
	buf = append(buf, hdr...)
	buf = b64.AppendEncode(buf, payload)
	var sig []byte
	if j.ed != nil {
		sig = ed25519.Sign(j.ed, buf)
	} else {
		digest := sha256.Sum256(buf)
		if sig, err = rsa.SignPKCS1v15(nil, j.rsa, crypto.SHA256, digest[:]); err != nil {
			return "", err
		}
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

var errBadToken = errors.New("bad token")

// verify checks an access token signed by j: header, signature, then
// decodes the claims and checks iss and exp.
func (j *jose) verify(tok, issuer string, now time.Time, dst *accessClaims) error {
	if !strings.HasPrefix(tok, j.hdrAT) {
		return errBadToken
	}
	dot := strings.LastIndexByte(tok, '.')
	if dot <= len(j.hdrAT) {
		return errBadToken
	}
	sig, err := b64.DecodeString(tok[dot+1:])
	if err != nil {
		return errBadToken
	}
	input := []byte(tok[:dot])
	if j.ed != nil {
		if !ed25519.Verify(j.edPub, input, sig) {
			return errBadToken
		}
	} else {
		digest := sha256.Sum256(input)
		if rsa.VerifyPKCS1v15(&j.rsa.PublicKey, crypto.SHA256, digest[:], sig) != nil {
			return errBadToken
		}
	}
	payload, err := b64.DecodeString(tok[len(j.hdrAT):dot])
	if err != nil {
		return errBadToken
	}
	*dst = accessClaims{}
	if err := json.Unmarshal(payload, dst); err != nil {
		return errBadToken
	}
	if dst.Issuer != issuer || !now.Before(dst.Expiry.Time().Add(time.Minute)) {
		return errBadToken
	}
	return nil
}

// payloadOf decodes the claims of a compact JWS without verifying it: the
// bounds copy the shape of the tokens authd issued in this run.
func payloadOf(tok string, dst any) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("not a compact JWS")
	}
	b, err := b64.DecodeString(parts[1])
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

// headerAlg returns the alg of a compact JWS's header.
func headerAlg(tok string) (string, error) {
	h, _, _ := strings.Cut(tok, ".")
	b, err := b64.DecodeString(h)
	if err != nil {
		return "", err
	}
	var v struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	return v.Alg, nil
}

// samples are answers authd gave in this run, which the bare handlers
// imitate.
type samples struct {
	issuer     string
	jwks       []byte
	jwksHeader http.Header
	ccAccess   accessClaims // a client_credentials access token's claims
	ccResp     tokenResponse
	userAccess accessClaims // a user's access token's claims
	userID     idClaims     // the same login's ID token's claims
	userResp   tokenResponse
	userinfo   userinfoResponse
	introspect introspection
}

// bareServer serves one bound's handler on a loopback port.
type bareServer struct {
	srv  *http.Server
	ln   net.Listener
	base string
	done chan struct{}
}

func startBare(h http.Handler) (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bare server: %w", err)
	}
	b := &bareServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, ln: ln, base: "http://" + ln.Addr().String(), done: make(chan struct{})}
	go func() { defer close(b.done); _ = b.srv.Serve(ln) }()
	return b, nil
}

func (b *bareServer) close() {
	_ = b.srv.Close()
	<-b.done
}

// writeJSON writes v as authd writes a token answer.
func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	_, _ = w.Write(body)
}

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b64.EncodeToString(b)
}

// boundHandler returns the bare handler of a scenario's bound.
func boundHandler(name string, j *jose, s *samples) (http.Handler, error) {
	switch name {
	case scClientCredentials:
		// Sign the same claims, with a fresh iat, exp and jti.
		ttl := time.Duration(s.ccAccess.Expiry-s.ccAccess.IssuedAt) * time.Second
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			now := time.Now()
			c := s.ccAccess
			c.IssuedAt, c.Expiry, c.ID = keys.NewNumericDate(now), keys.NewNumericDate(now.Add(ttl)), randomB64(16)
			at, err := j.sign(j.hdrAT, c)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			resp := s.ccResp
			resp.AccessToken = at
			writeJSON(w, resp)
		}), nil
	case scRefresh:
		// Sign the access token of a refresh (authd's refresh answers carry
		// no ID token, OIDC Core §12.2) and mint the next refresh token of a
		// family as authd does (HMAC tag, SHA-256 of its random part); no
		// database.
		ttl := time.Duration(s.userAccess.Expiry-s.userAccess.IssuedAt) * time.Second
		familyKey := refresh.NewFamilyKey()
		var gen atomic.Uint64
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			now := time.Now()
			c := s.userAccess
			c.IssuedAt, c.Expiry, c.ID = keys.NewNumericDate(now), keys.NewNumericDate(now.Add(ttl)), randomB64(16)
			at, err := j.sign(j.hdrAT, c)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			resp := s.userResp
			resp.AccessToken, resp.IDToken = at, ""
			resp.RefreshToken, _ = refresh.Mint(c.SessionID, gen.Add(1), familyKey)
			writeJSON(w, resp)
		}), nil
	case scIntrospect:
		// Read the token from the form, verify it, describe it.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			tok := formValue(body, "token")
			var c accessClaims
			if err := j.verify(tok, s.issuer, time.Now(), &c); err != nil {
				writeJSON(w, introspection{})
				return
			}
			writeJSON(w, introspection{
				Active: true, Scope: c.Scope, ClientID: c.ClientID, Username: s.introspect.Username, TokenType: "Bearer",
				Exp: int64(c.Expiry), Iat: int64(c.IssuedAt), Subject: c.Subject, Audience: c.Audience,
				Issuer: c.Issuer, JTI: c.ID, SessionID: c.SessionID,
			})
		}), nil
	case scUserinfo:
		// Take the bearer token, verify it, write the user's claims.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			var c accessClaims
			if !ok || j.verify(tok, s.issuer, time.Now(), &c) != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			resp := s.userinfo
			resp.Subject = c.Subject
			writeJSON(w, resp)
		}), nil
	case scJWKS:
		// Write the same bytes with the same headers.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for k, v := range s.jwksHeader {
				h[k] = v
			}
			_, _ = w.Write(s.jwks)
		}), nil
	}
	return nil, fmt.Errorf("no bound for scenario %q", name)
}

// formValue finds a parameter in a form-encoded body.
func formValue(body []byte, key string) string {
	for part := range bytes.SplitSeq(body, []byte("&")) {
		k, v, _ := bytes.Cut(part, []byte("="))
		if string(k) == key {
			s, err := url.QueryUnescape(string(v))
			if err != nil {
				return ""
			}
			return s
		}
	}
	return ""
}

// boundTarget is the target the load generator drives against a bare
// server: the same requests, with tokens the bare handlers accept.
func boundTarget(base string, real *target, j *jose, s *samples) (*target, error) {
	// The user's access token, re-signed with the bound's key: the same
	// claims and size as authd's.
	at, err := j.sign(j.hdrAT, s.userAccess)
	if err != nil {
		return nil, err
	}
	t := *real
	t.base = base
	t.userAccessToken = at
	t.fakeLogin = &tokenSet{AccessToken: at, RefreshToken: randomB64(32)}
	return &t, nil
}

// hashRate measures argon2id at p: hashes per second with n goroutines
// hashing back to back for d (one hash is one login's work).
func hashRate(ctx context.Context, p password.Params, n int, d time.Duration) (float64, error) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	pw := []byte(randomB64(18))
	var count atomic.Int64
	start := time.Now()
	end := start.Add(d)
	var last atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for time.Now().Before(end) && ctx.Err() == nil {
				argon2.IDKey(pw, salt, p.Iterations, p.MemoryKiB, p.Parallelism, 32)
				count.Add(1)
			}
			if t := int64(time.Since(start)); t > last.Load() {
				last.Store(t) // roughly the last finisher; the spread is one hash
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	elapsed := time.Duration(last.Load())
	if elapsed <= 0 || count.Load() == 0 {
		return 0, errors.New("argon2 bound: no hash finished")
	}
	return float64(count.Load()) / elapsed.Seconds(), nil
}

// commitRate measures SQLite commits per second on a fresh file at path, in
// WAL mode at the given synchronous mode, one small INSERT per transaction
// on one connection: what the durable rotation of refresh tokens is bound
// by when every rotation commits on its own.
func commitRate(ctx context.Context, path, synchronous string, d time.Duration) (float64, error) {
	dsn := "file:" + path + "?" + url.Values{
		"_pragma": {"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(" + synchronous + ")"},
		"_txlock": {"immediate"},
	}.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return 0, fmt.Errorf("commit bound: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, created INTEGER NOT NULL)"); err != nil {
		return 0, fmt.Errorf("commit bound: %w", err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		return 0, fmt.Errorf("commit bound: journal mode %q, want wal: %v", mode, err)
	}
	stmt, err := db.PrepareContext(ctx, "INSERT INTO t (hash, created) VALUES (?, ?)")
	if err != nil {
		return 0, fmt.Errorf("commit bound: %w", err)
	}
	defer stmt.Close()
	hash := strings.Repeat("ab", 32)
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, fmt.Errorf("commit bound: %w", err)
		}
		if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, hash, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return 0, fmt.Errorf("commit bound: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return 0, fmt.Errorf("commit bound: %w", err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
