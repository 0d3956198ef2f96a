package main

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
)

func cmdKeys(ctx context.Context, e env, args []string) error {
	return dispatch(ctx, e, "keys", "", []subcommand{
		{"rotate", cmdKeysRotate},
		{"list", cmdKeysList},
		{"reseal", cmdKeysReseal},
	}, args)
}

func cmdKeysRotate(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "keys rotate", "keys rotate [--alg RS256|EdDSA] [--config FILE]", `
Rotate the signing key now: the next key (already published in the JWKS)
starts signing, the active key is retired (published until every token it
signed has expired), and a new next key is created with --alg. Running
servers on the same database pick the change up within keys.reload_interval.`)
	alg := fs.String("alg", "", "`algorithm` of the new next key: RS256 or EdDSA (default: keys.algorithm)")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *alg != "" && *alg != "RS256" && *alg != "EdDSA" {
		return fmt.Errorf("keys rotate: --alg must be RS256 or EdDSA, got %q", *alg)
	}
	return withKeys(ctx, e, *cfgPath, func(cfg config.Config, km *keys.Manager) error {
		return rotateKeys(ctx, e, cfg, km, *alg)
	})
}

// rotateKeys rotates and reports what changed.
func rotateKeys(ctx context.Context, e env, cfg config.Config, km *keys.Manager, alg string) error {
	res, err := km.Rotate(ctx, alg)
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	if !res.Rotated {
		fmt.Fprintf(e.stdout, "another process rotated at the same time; %s signs, next key %s\n", res.Promoted, res.Next)
		return nil
	}
	auditEvent(e, "key.rotated", "active_kid", res.Promoted, "retired_kid", res.Retired, "next_kid", res.Next, "by", "cli")
	fmt.Fprintf(e.stdout, "rotated: %s now signs (retired %s); new next key %s\n", res.Promoted, orDash(res.Retired), res.Next)
	if res.Early {
		fmt.Fprintf(e.stderr, "warning: the promoted key was published for only %s, less than keys.reload_interval + keys.jwks_max_age (%s); resource servers with a cached JWKS may reject its tokens until they refetch it\n",
			res.PublishedFor.Round(time.Second), cfg.Keys.ReloadInterval+cfg.Keys.JWKSMaxAge)
	}
	return nil
}

func cmdKeysList(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "keys list", "keys list [--config FILE]", "List the signing keys and their lifecycle times.")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	return withKeys(ctx, e, *cfgPath, func(_ config.Config, km *keys.Manager) error {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tLEAVES JWKS")
		for _, k := range km.Keys() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State, ts(k.CreatedAt), ts(k.ActivatedAt), ts(k.RetiredAt), ts(k.RemoveAt))
		}
		return tw.Flush()
	})
}

// withKeys loads the configuration, opens the database and the key manager
// (which makes the first keys of a new database) and runs fn.
func withKeys(ctx context.Context, e env, cfgPath string, fn func(config.Config, *keys.Manager) error) error {
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	km, err := newKeyManager(ctx, cfg, db, slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		return err
	}
	return fn(cfg, km)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func cmdKeysReseal(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "keys reseal", "keys reseal [--config FILE]", `
Re-encrypt every private key under the configured keys.encryption_key
(AUTHD_KEYS_ENCRYPTION_KEY). The key they are sealed with now is read from
AUTHD_KEYS_OLD_ENCRYPTION_KEY (unset: they are stored unsealed now). With no
keys.encryption_key, the keys are unsealed. To change the encryption key:
stop the servers (or accept that they fail to reload until restarted with
the new key), run this command with both variables set, then start the
servers with the new key.`)
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	newKey, err := cfg.EncryptionKey()
	if err != nil {
		return err
	}
	old := cfg
	old.Keys.EncryptionKey = e.getenv("AUTHD_KEYS_OLD_ENCRYPTION_KEY")
	oldKey, err := old.EncryptionKey()
	if err != nil {
		return fmt.Errorf("AUTHD_KEYS_OLD_ENCRYPTION_KEY: %w", err)
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := keys.Reseal(ctx, db, oldKey, newKey)
	if err != nil {
		return fmt.Errorf("keys reseal: %w", err)
	}
	state := "sealed under the new key"
	if newKey == nil {
		state = "unsealed"
	}
	fmt.Fprintf(e.stdout, "%d key(s) %s\n", n, state)
	return nil
}
