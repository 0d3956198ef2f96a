package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost.
type testCert struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
}

func newTestCert(t *testing.T, name string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

func writePair(t *testing.T, certFile, keyFile string, certPEM, keyPEM []byte) {
	t.Helper()
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
}

// fetchHTTPS gets u over a new connection, trusting only roots, and returns
// the response (body closed) with the certificate the server presented.
func fetchHTTPS(t *testing.T, u string, roots ...*x509.Certificate) *http.Response {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp
}

// sendSIGHUP sends SIGHUP to this process. Only call it while a server
// started by the test runs: serve handles the signal, and without a
// handler it would end the test binary.
func sendSIGHUP(t *testing.T) {
	t.Helper()
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until msg appears n times in the server's log.
func waitLog(t *testing.T, s *serveProc, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(s.stderr.String(), `"msg":"`+msg+`"`) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", msg, s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With tls.cert_file and tls.key_file, serve speaks HTTPS and HTTP/2 on
// listen, and SIGHUP reloads the pair: a bad pair keeps the current
// certificate and logs an error, a good one is served from the next
// handshake on.
func TestServeTLSAndReloadOnSIGHUP(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGHUP on Windows")
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first, second := newTestCert(t, "first"), newTestCert(t, "second")
	writePair(t, certFile, keyFile, first.certPEM, first.keyPEM)

	env := testEnv(t)
	env["AUTHD_TLS_CERT_FILE"] = certFile
	env["AUTHD_TLS_KEY_FILE"] = keyFile
	s := startServe(t, env)
	base := "https://" + strings.TrimPrefix(s.url, "http://")

	resp := fetchHTTPS(t, base+"/healthz", first.cert)
	if resp.StatusCode != 200 {
		t.Errorf("GET /healthz over HTTPS: %d", resp.StatusCode)
	}
	if resp.ProtoMajor != 2 || resp.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("protocol %s (ALPN %q), want HTTP/2", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
	if code, _ := get(t, s.url+"/healthz"); code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS listener: %d, want 400", code)
	}

	// A certificate with the wrong key: the reload fails, the first
	// certificate stays.
	writePair(t, certFile, keyFile, second.certPEM, first.keyPEM)
	sendSIGHUP(t) // serve registered its handler before it logged "listening"
	waitLog(t, s, "tls certificate reload failed; still serving the previous certificate", 1)
	if got := fetchHTTPS(t, base+"/healthz", first.cert, second.cert).TLS.PeerCertificates[0]; !got.Equal(first.cert) {
		t.Errorf("after a failed reload the server presents %q, want %q", got.Subject.CommonName, "first")
	}

	writePair(t, certFile, keyFile, second.certPEM, second.keyPEM)
	sendSIGHUP(t)
	waitLog(t, s, "tls certificate reloaded", 1)
	resp = fetchHTTPS(t, base+"/healthz", second.cert)
	if got := resp.TLS.PeerCertificates[0]; !got.Equal(second.cert) || resp.StatusCode != 200 {
		t.Errorf("after the reload: %d from %q, want 200 from %q", resp.StatusCode, got.Subject.CommonName, "second")
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// A pair that does not load stops serve before it listens.
func TestServeTLSBadPair(t *testing.T) {
	env := testEnv(t)
	env["AUTHD_TLS_CERT_FILE"] = filepath.Join(t.TempDir(), "missing.pem")
	env["AUTHD_TLS_KEY_FILE"] = filepath.Join(t.TempDir(), "missing-key.pem")
	_, err := runCLI(t, env, "", "serve")
	if err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("serve with a missing certificate: %v", err)
	}
}

// Without TLS, SIGHUP (systemctl reload) is logged and the server goes on.
func TestServeSIGHUPWithoutTLS(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGHUP on Windows")
	}
	s := startServe(t, testEnv(t))
	sendSIGHUP(t)
	waitLog(t, s, "SIGHUP: nothing to reload, tls is not configured", 1)
	if code, _ := get(t, s.url+"/healthz"); code != 200 {
		t.Errorf("GET /healthz after SIGHUP: %d", code)
	}
}
