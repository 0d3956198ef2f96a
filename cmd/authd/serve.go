package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/metrics"
	"github.com/authd/authd/password"
	"github.com/authd/authd/server"
	"github.com/authd/authd/storage"
)

func cmdServe(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "serve", "serve [--config FILE]", `
Migrate the database if needed, create the first signing keys on an empty
database, and serve HTTP on the configured listen address until SIGINT or
SIGTERM. Then stop accepting connections, let in-flight requests finish
(up to http.shutdown_timeout) and close the database cleanly.`)
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg.Log)
	if path := e.getenv("AUTHD_CPUPROFILE"); path != "" {
		// Hidden, for cmd/authbench: a CPU profile of the whole run.
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("AUTHD_CPUPROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("AUTHD_CPUPROFILE: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	return serve(ctx, cfg, log)
}

// serve runs the server until ctx is done.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) (err error) {
	metrics := metrics.New()
	db, err := createStore(ctx, cfg, log, metrics.ObserveCommit)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing database: %w", cerr)
		}
	}()

	km, err := newKeyManager(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	hasher, err := newHasher(cfg)
	if err != nil {
		return err
	}
	sender, err := mail.NewSender(mail.Config{
		SMTPAddr: cfg.Mail.SMTPAddr, From: cfg.Mail.From, Username: cfg.Mail.Username,
		Password: cfg.Mail.Password, Timeout: cfg.Mail.Timeout, LogLinks: cfg.Mail.LogLinks, RequireTLS: cfg.Mail.TLSRequired(),
	}, log)
	if err != nil {
		return err
	}
	mailer, err := mail.NewMailer(sender, mail.Options{Logger: log})
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, server.Options{Config: cfg, Store: db, Keys: km, Hasher: hasher, Mailer: mailer, Metrics: metrics, Logger: log})
	if err != nil {
		return err
	}
	setMemoryLimit(cfg, log)

	tlsConfig, err := serveTLSConfig(ctx, cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// Background work stops with bgCtx, after the HTTP server has drained.
	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { km.Run(bgCtx) })
	bg.Go(func() { srv.Run(bgCtx) })
	bg.Go(func() { _ = mailer.Run(bgCtx) }) // drains queued mail after the HTTP server stops
	defer func() { stopBg(); bg.Wait() }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- serveOn(hs, ln) }()
	if cfg.Metrics.Listen != "" {
		ms, err := serveMetrics(cfg.Metrics.Listen, metrics, log)
		if err != nil {
			return err
		}
		defer ms.Close()
	}
	log.Info("listening", "address", ln.Addr().String(), "issuer", cfg.Issuer, "config", cfg.Fingerprint())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// serveMetrics serves GET /metrics alone on its own address.
func serveMetrics(addr string, m *metrics.Metrics, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	log.Info("metrics listening", "address", ln.Addr().String())
	return hs, nil
}

// setMemoryLimit sets the Go runtime's soft memory limit from the hashing
// bound when GOMEMLIMIT is not set: argon2id buffers are garbage the moment
// a hash ends, and without a limit the collector lets them pile up to
// twice the live heap. max_concurrent × memory_kib + 64 MiB (102 MiB at the
// defaults on 2 cores) kept a 1,000-connection login flood's peak RSS near
// 126 MiB in authbench, against 165 MiB without it (see README, Passwords).
func setMemoryLimit(cfg config.Config, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	slots := cfg.Passwords.MaxConcurrent
	if slots == 0 {
		slots = runtime.NumCPU()
	}
	limit := int64(slots)*int64(cfg.Passwords.Argon2.MemoryKiB)*1024 + 64<<20
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit", "bytes", limit)
}

func newKeyManager(ctx context.Context, cfg config.Config, store storage.KeyStore, log *slog.Logger) (*keys.Manager, error) {
	ek, err := cfg.EncryptionKey()
	if err != nil {
		return nil, err
	}
	return keys.NewManager(ctx, store, keys.Options{
		Algorithm:      cfg.Keys.Algorithm,
		RSABits:        cfg.Keys.RSABits,
		RotateEvery:    cfg.Keys.RotateEvery,
		ReloadInterval: cfg.Keys.ReloadInterval,
		JWKSMaxAge:     cfg.Keys.JWKSMaxAge,
		EncryptionKey:  ek,
		MaxTokenTTL:    cfg.MaxTokenTTL(),
		Logger:         log,
	})
}

func newHasher(cfg config.Config) (*password.Hasher, error) {
	p := cfg.Passwords
	return password.New(password.Options{
		Params:        password.Params{MemoryKiB: p.Argon2.MemoryKiB, Iterations: p.Argon2.Iterations, Parallelism: p.Argon2.Parallelism},
		MinLength:     p.MinLength,
		MaxLength:     p.MaxLength,
		MaxConcurrent: p.MaxConcurrent,
		QueueWait:     p.QueueWait,
	})
}
