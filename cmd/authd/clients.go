package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/oauth"
	"github.com/authd/authd/server/admin"
	"github.com/authd/authd/session"
)

func cmdClients(ctx context.Context, e env, args []string) error {
	return dispatch(ctx, e, "clients", "Clients added here live in the database beside those of the configuration\nfile, which are read-only here.\n\n", []subcommand{
		{"add", cmdClientsAdd},
		{"list", cmdClientsList},
		{"show", cmdClientsShow},
		{"remove", cmdClientsRemove},
		{"rotate-secret", cmdClientsRotate},
	}, args)
}

// withClients loads the configuration, opens the database and runs fn with
// the client registry (configured and stored clients, audit lines on
// stderr); fn's error is worded for the command line. Running servers see
// a change within oauth.DefaultClientsTTL.
func withClients(ctx context.Context, e env, cfgPath, cmd string, fn func(*oauth.Clients) error) error {
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	log := slog.New(slog.NewJSONHandler(e.stderr, nil))
	clients := oauth.NewClients(cfg.Clients)
	if err := clients.UseStore(ctx, oauth.StoreOptions{
		Store: db, Reserved: []string{session.BrowserClientID, cfg.Compat.ClientID}, Audit: audit.New(log), Log: log,
	}); err != nil {
		return err
	}
	if err := fn(clients); err != nil {
		return fmt.Errorf("%s: %s", cmd, clientMessage(err))
	}
	return nil
}

// clientMessage words a registry error for the command line: each field
// problem after the flag it is about ("--grant: unknown grant …").
func clientMessage(err error) string {
	e, ok := errs.As(err)
	if !ok || len(e.Fields) == 0 {
		return cliMessage(err)
	}
	flags := map[string]string{
		"id": "--id", "name": "--name", "grants": "--grant", "scopes": "--scope",
		"redirect_uris": "--redirect-uri", "post_logout_redirect_uris": "--post-logout-redirect-uri",
	}
	parts := make([]string, 0, len(e.Fields))
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		base, index, _ := strings.Cut(k, "[")
		name := k
		if f, ok := flags[base]; ok {
			name = f
			if index != "" {
				name += " #" + strings.TrimSuffix(index, "]")
			}
		}
		parts = append(parts, name+": "+e.Fields[k])
	}
	return strings.Join(parts, "; ")
}

// toClientJSON shows a client as the admin API does, and whether a
// configured client of the same id hides it.
func toClientJSON(c *oauth.Client, shadowed bool) admin.ClientJSON {
	out := admin.ToClientJSON(c)
	out.Shadowed = shadowed
	return out
}

func clientType(c *oauth.Client) string {
	if c.Public {
		return "public"
	}
	return "confidential"
}

func cmdClientsAdd(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "clients add",
		"clients add --id ID [--name NAME] [--public] --grant G... [--scope S...] [--redirect-uri U...] [--post-logout-redirect-uri U...] [--config FILE]", `
Register a client in the database, by the rules of the configuration
file's clients section. Repeat --grant, --scope and the URI flags for
several values. A confidential client (without --public) gets a random
secret, printed this once and stored only as its SHA-256.`)
	id := fs.String("id", "", "the client_id (required)")
	name := fs.String("name", "", "the `name` people see instead of the id")
	public := fs.Bool("public", false, "a public client: no secret (SPAs, mobile apps)")
	var grants, scopes, redirects, logouts listFlag
	fs.Var(&grants, "grant", "a `grant` the client may use: authorization_code, password, refresh_token, client_credentials (repeatable)")
	fs.Var(&scopes, "scope", "a `scope` the client may ask for (repeatable)")
	fs.Var(&redirects, "redirect-uri", "a redirect `URI` of the code flow, matched exactly (repeatable)")
	fs.Var(&logouts, "post-logout-redirect-uri", "a `URI` to return to after logout (repeatable)")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *id == "" {
		return errors.New("clients add: --id is required")
	}
	return withClients(ctx, e, *cfgPath, "clients add", func(clients *oauth.Clients) error {
		c, secret, err := clients.Create(ctx, oauth.ClientSpec{
			ID: *id, Name: *name, Public: *public, Grants: grants, Scopes: scopes,
			RedirectURIs: redirects, PostLogoutRedirectURIs: logouts,
		}, byCLI)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created %s client %s\n", clientType(c), c.ID)
		if secret != "" {
			fmt.Fprintf(e.stdout, "client_secret: %s\n", secret)
			fmt.Fprintln(e.stderr, "authd: the secret is shown this once; store it now")
		}
		return nil
	})
}

func cmdClientsList(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "clients list", "clients list [--json] [--config FILE]",
		"List the clients of the configuration file (read-only) and of the database: a table, or JSON with --json.")
	asJSON := fs.Bool("json", false, "print JSON (an array of clients) instead of a table")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	return withClients(ctx, e, *cfgPath, "clients list", func(clients *oauth.Clients) error {
		list, err := clients.List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]admin.ClientJSON, 0, len(list))
			for _, c := range list {
				out = append(out, toClientJSON(c.Client, c.Shadowed))
			}
			return writeJSON(e.stdout, out)
		}
		rows := make([][]string, 0, len(list))
		for _, c := range list {
			source := c.Source
			if c.Shadowed {
				source += " (shadowed by config)"
			}
			rows = append(rows, []string{c.ID, c.Name, clientType(c.Client), source, strings.Join(c.Grants, ","), strings.Join(c.Scopes, " ")})
		}
		return table(e.stdout, []string{"ID", "NAME", "TYPE", "SOURCE", "GRANTS", "SCOPES"}, rows)
	})
}

func cmdClientsShow(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "clients show", "clients show --id ID [--json] [--config FILE]", "Show a client as it is served.")
	id := fs.String("id", "", "the client_id (required)")
	asJSON := fs.Bool("json", false, "print JSON instead of a list of fields")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *id == "" {
		return errors.New("clients show: --id is required")
	}
	return withClients(ctx, e, *cfgPath, "clients show", func(clients *oauth.Clients) error {
		c, err := clients.Lookup(ctx, *id)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, toClientJSON(c, false))
		}
		source := c.Source
		if c.Source == oauth.SourceConfig {
			source += " (read-only here: change it in the configuration file)"
		}
		return fields(e.stdout, [][2]string{
			{"ID", c.ID}, {"Name", c.Name}, {"Type", clientType(c)}, {"Source", source},
			{"Grants", strings.Join(c.Grants, ", ")}, {"Scopes", strings.Join(c.Scopes, " ")},
			{"Redirect URIs", strings.Join(c.RedirectURIs, " ")}, {"Post-logout URIs", strings.Join(c.PostLogoutRedirectURIs, " ")},
			{"Created", when(c.CreatedAt)}, {"Updated", when(c.UpdatedAt)},
		})
	})
}

func cmdClientsRemove(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "clients remove", "clients remove --id ID [--config FILE]", `
Delete a client of the database. Its refresh tokens stop working at once
(the refresh grant authenticates the client first); access tokens already
issued live out their lifetime. Clients of the configuration file are
removed from the file.`)
	id := fs.String("id", "", "the client_id (required)")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *id == "" {
		return errors.New("clients remove: --id is required")
	}
	return withClients(ctx, e, *cfgPath, "clients remove", func(clients *oauth.Clients) error {
		if err := clients.Delete(ctx, *id, byCLI); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed client %s\n", *id)
		return nil
	})
}

func cmdClientsRotate(ctx context.Context, e env, args []string) error {
	fs, cfgPath := newFlags(e, "clients rotate-secret", "clients rotate-secret --id ID [--config FILE]", `
Give a confidential client of the database a new random secret, printed
this once; the old secret stops working (on running servers within a few
seconds).`)
	id := fs.String("id", "", "the client_id (required)")
	if done, err := parseOrHelp(e, fs, args); done {
		return err
	}
	if *id == "" {
		return errors.New("clients rotate-secret: --id is required")
	}
	return withClients(ctx, e, *cfgPath, "clients rotate-secret", func(clients *oauth.Clients) error {
		secret, err := clients.RotateSecret(ctx, *id, byCLI)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "new secret for client %s\nclient_secret: %s\n", *id, secret)
		fmt.Fprintln(e.stderr, "authd: the secret is shown this once; store it now")
		return nil
	})
}
