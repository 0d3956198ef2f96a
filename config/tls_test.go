package config

import (
	"strings"
	"testing"
)

// tls.cert_file and tls.key_file come as a pair, from the file or the
// environment.
func TestTLSPair(t *testing.T) {
	if _, err := Load(writeFile(t, "tls:\n  cert_file: /etc/authd/cert.pem\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "tls: cert_file and key_file must be set together") {
		t.Errorf("cert_file alone: %v", err)
	}
	cfg, err := Load("", env(map[string]string{"AUTHD_TLS_CERT_FILE": "/c.pem", "AUTHD_TLS_KEY_FILE": "/k.pem"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.CertFile != "/c.pem" || cfg.TLS.KeyFile != "/k.pem" {
		t.Errorf("tls from the environment: %+v", cfg.TLS)
	}
}
