package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/authd/authd/config"
)

// certReloader hands out the certificate pair it last loaded successfully.
type certReloader struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// reload reads the pair again. On error the current certificate stays.
func (r *certReloader) reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: loading %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.cur.Store(&c)
	return nil
}

// getCertificate is tls.Config.GetCertificate: each handshake gets the
// current certificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// logAttrs describes the current certificate for the log.
func (r *certReloader) logAttrs() []any {
	leaf := r.cur.Load().Leaf
	if leaf == nil {
		return []any{"cert_file", r.certFile}
	}
	return []any{"cert_file", r.certFile, "subject", leaf.Subject.String(), "dns_names", leaf.DNSNames,
		"serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339)}
}

// serveTLSConfig returns the TLS configuration of the main listener, nil
// when tls.cert_file is not set, and handles SIGHUP until ctx is done: it
// reloads the certificate pair, and a pair that fails to load leaves the
// current one serving and logs an error. Without TLS, SIGHUP is logged and
// otherwise ignored, so that a reload never stops the server.
func serveTLSConfig(ctx context.Context, cfg config.Config, log *slog.Logger) (*tls.Config, error) {
	var r *certReloader
	if cfg.TLS.CertFile != "" {
		var err error
		if r, err = newCertReloader(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			return nil, err
		}
		log.Info("tls certificate loaded", r.logAttrs()...)
		if leaf := r.cur.Load().Leaf; leaf != nil && time.Now().After(leaf.NotAfter) {
			log.Warn("tls certificate has expired", r.logAttrs()...)
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if r == nil {
					log.Info("SIGHUP: nothing to reload, tls is not configured")
				} else if err := r.reload(); err != nil {
					log.Error("tls certificate reload failed; still serving the previous certificate",
						append(r.logAttrs(), "error", err.Error())...)
				} else {
					log.Info("tls certificate reloaded", r.logAttrs()...)
				}
			}
		}
	}()
	if r == nil {
		return nil, nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}, nil
}

// serveOn serves hs on ln: HTTPS (HTTP/2 and HTTP/1.1) when hs.TLSConfig is
// set, else plain HTTP.
func serveOn(hs *http.Server, ln net.Listener) error {
	if hs.TLSConfig != nil {
		return hs.ServeTLS(ln, "", "")
	}
	return hs.Serve(ln)
}
