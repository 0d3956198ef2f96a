package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
)

// cliRun runs authd in-process and returns stdout, stderr and the error.
func cliRun(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"authd"}, args...), func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

// mustCLI is cliRun that fails the test on an error.
func mustCLI(t *testing.T, env map[string]string, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := cliRun(t, env, stdin, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errOut)
	}
	return out
}

// migrated is a test environment with its database created.
func migrated(t *testing.T) map[string]string {
	t.Helper()
	env := testEnv(t)
	mustCLI(t, env, "", "migrate")
	return env
}

// tableRows splits a table into its rows of cells (two or more spaces
// apart), the header first.
func tableRows(out string) [][]string {
	var rows [][]string
	for line := range strings.SplitSeq(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1))
	}
	return rows
}

func TestUsersListShowDelete(t *testing.T) {
	env := migrated(t)
	mustCLI(t, env, "first password 1\n", "users", "add", "--username", "Zoe", "--email", "zoe@example.com", "--password-stdin")
	mustCLI(t, env, "second password 2\n", "users", "add", "--username", "yan", "--password-stdin")
	mustCLI(t, env, "third password 3\n", "users", "add", "--username", "zack", "--email", "ZED@example.org", "--password-stdin")

	rows := tableRows(mustCLI(t, env, "", "users", "list"))
	if h := strings.Join(rows[0], "|"); h != "USERNAME|PK|EMAIL|VERIFIED|DISABLED|CREATED|ID" {
		t.Errorf("header %q", h)
	}
	if len(rows) != 4 || rows[1][0] != "Zoe" || rows[1][1] != "1" || rows[1][2] != "zoe@example.com" || rows[1][3] != "yes" ||
		rows[2][0] != "yan" || rows[2][2] != "-" || rows[3][0] != "zack" {
		t.Errorf("table rows %q", rows[1:])
	}

	var list []struct {
		ID            string `json:"id"`
		PK            int64  `json:"pk"`
		Username      string `json:"username"`
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Disabled      bool   `json:"disabled"`
		HasPassword   bool   `json:"has_password"`
		CreatedAt     string `json:"created_at"`
	}
	out := mustCLI(t, env, "", "users", "list", "--json", "--q", "Z")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("users list --json: %v\n%s", err, out)
	}
	if len(list) != 2 || list[0].Username != "Zoe" || list[1].Username != "zack" || !list[0].HasPassword || list[0].PK != 1 || list[0].CreatedAt == "" {
		t.Errorf("users list --json --q Z = %+v", list)
	}
	if strings.Contains(out, "argon2") {
		t.Errorf("the list shows password hashes: %s", out)
	}
	if out := mustCLI(t, env, "", "users", "list", "--q", "zed@"); len(tableRows(out)) != 2 || !strings.Contains(out, "zack") {
		t.Errorf("users list --q zed@ (by email):\n%s", out)
	}
	if out := mustCLI(t, env, "", "users", "list", "--json", "--q", "nobody"); strings.TrimSpace(out) != "[]" {
		t.Errorf("empty list in JSON = %q, want []", out)
	}

	show := mustCLI(t, env, "", "users", "show", "--username", "ZOE")
	for _, want := range []string{"Username:", "Zoe", "Email verified:  yes", "Disabled:", "Live sessions:   0", "PK:"} {
		if !strings.Contains(show, want) {
			t.Errorf("users show lacks %q:\n%s", want, show)
		}
	}
	var one struct {
		Username     string `json:"username"`
		LiveSessions int    `json:"live_sessions"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, env, "", "users", "show", "--username", "zoe", "--json")), &one); err != nil || one.Username != "Zoe" {
		t.Errorf("users show --json = %+v, %v", one, err)
	}

	if _, _, err := cliRun(t, env, "", "users", "delete", "--username", "zoe"); err == nil || !strings.Contains(err.Error(), "without --yes") {
		t.Errorf("delete without --yes off a terminal: %v", err)
	}
	out, errOut, err := cliRun(t, env, "", "users", "delete", "--username", "zoe", "--yes")
	if err != nil || !strings.Contains(out, "deleted user Zoe") {
		t.Fatalf("users delete: %v %q", err, out)
	}
	if !strings.Contains(errOut, `"event":"user.deleted"`) || !strings.Contains(errOut, `"by":"cli"`) || strings.Contains(errOut, "zoe@") {
		t.Errorf("audit of the deletion: %s", errOut)
	}
	if _, _, err := cliRun(t, env, "", "users", "show", "--username", "zoe"); err == nil || !strings.Contains(err.Error(), "no user named") {
		t.Errorf("show after delete: %v", err)
	}
	// Asked on a terminal: anything but yes keeps the user.
	isTerminal = func(any) bool { return true }
	t.Cleanup(func() { isTerminal = terminalCheck })
	if _, _, err := cliRun(t, env, "n\n", "users", "delete", "--username", "yan"); err == nil {
		t.Error("delete answered n went ahead")
	}
	if out := mustCLI(t, env, "y\n", "users", "delete", "--username", "yan"); !strings.Contains(out, "[y/N]") || !strings.Contains(out, "deleted user yan") {
		t.Errorf("delete answered y: %q", out)
	}
}

// terminalCheck is the real isTerminal, put back after a test fakes one.
var terminalCheck = isTerminal

func TestSessionsCommands(t *testing.T) {
	env := migrated(t)
	mustCLI(t, env, "a long random phrase 1\n", "users", "add", "--username", "sam", "--password-stdin")
	db, err := sqlite.Open(context.Background(), env["AUTHD_DATABASE"], sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.GetUserByUsername(context.Background(), "sam")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i, id := range []string{"sess-one", "sess-two"} {
		s := storage.Session{ID: id, UserID: u.ID, ClientID: "cli-test", Scope: "openid", AuthTime: now, CreatedAt: now.Add(time.Duration(i) * time.Second),
			LastUsedAt: now, ExpiresAt: now.Add(time.Hour), Address: "192.0.2.7", UserAgent: "Tester/1.0\t(tab)"}
		if err := db.CreateSession(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}

	rows := tableRows(mustCLI(t, env, "", "sessions", "list", "--username", "sam"))
	if h := strings.Join(rows[0], "|"); h != "ID|CLIENT|CREATED|LAST USED|ADDRESS|USER AGENT" {
		t.Errorf("header %q", h)
	}
	if len(rows) != 3 || rows[1][0] != "sess-two" || rows[1][1] != "cli-test" || rows[1][4] != "192.0.2.7" || rows[1][5] != "Tester/1.0 (tab)" {
		t.Errorf("rows %q", rows[1:])
	}
	var list []struct {
		ID        string `json:"id"`
		ClientID  string `json:"client_id"`
		Address   string `json:"address"`
		UserAgent string `json:"user_agent"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, env, "", "sessions", "list", "--username", "sam", "--json")), &list); err != nil || len(list) != 2 || list[1].ID != "sess-one" || list[0].UserAgent != "Tester/1.0\t(tab)" {
		t.Errorf("sessions list --json = %+v, %v", list, err)
	}

	for _, args := range [][]string{
		{"sessions", "end", "--username", "sam"},
		{"sessions", "end", "--username", "sam", "--sid", "x", "--all"},
	} {
		if _, _, err := cliRun(t, env, "", args...); err == nil || !strings.Contains(err.Error(), "exactly one of --sid or --all") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, _, err := cliRun(t, env, "", "sessions", "end", "--username", "sam", "--sid", "nope"); err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Errorf("end an unknown session: %v", err)
	}
	out, errOut, err := cliRun(t, env, "", "sessions", "end", "--username", "sam", "--sid", "sess-one")
	if err != nil || !strings.Contains(out, "ended session sess-one of sam") || !strings.Contains(errOut, `"event":"session.revoked"`) {
		t.Fatalf("sessions end --sid: %v %q %s", err, out, errOut)
	}
	if s, _ := db.GetSession(context.Background(), "sess-one"); s.EndedAt.IsZero() {
		t.Error("the session did not end")
	}
	if out := mustCLI(t, env, "", "sessions", "end", "--username", "sam", "--all"); !strings.Contains(out, "ended 1 session(s) of sam") {
		t.Errorf("sessions end --all: %q", out)
	}
	if out := mustCLI(t, env, "", "sessions", "list", "--username", "sam", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("sessions left: %s", out)
	}
}

func TestClientsCommands(t *testing.T) {
	env := migrated(t)
	out, errOut, err := cliRun(t, env, "", "clients", "add", "--id", "batch", "--name", "Batch jobs", "--grant", "client_credentials", "--scope", "api", "--scope", "api.read")
	if err != nil {
		t.Fatalf("clients add: %v %s", err, errOut)
	}
	m := regexp.MustCompile(`(?m)^client_secret: (\S+)$`).FindStringSubmatch(out)
	if !strings.Contains(out, "created confidential client batch") || m == nil {
		t.Fatalf("clients add printed %q", out)
	}
	secret := m[1]
	if !strings.Contains(errOut, "shown this once") || !strings.Contains(errOut, `"event":"client.created"`) || strings.Contains(errOut, secret) {
		t.Errorf("clients add stderr: %s", errOut)
	}
	db, err := sqlite.Open(context.Background(), env["AUTHD_DATABASE"], sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkSecret := func(secret string) {
		t.Helper()
		row, err := db.GetClient(context.Background(), "batch")
		sum := sha256.Sum256([]byte(secret))
		if err != nil || !bytes.Equal(row.SecretHash, sum[:]) {
			t.Errorf("stored hash is not SHA-256 of the printed secret (%v)", err)
		}
	}
	checkSecret(secret)
	out = mustCLI(t, env, "", "clients", "add", "--id", "spa", "--public", "--grant", "authorization_code", "--redirect-uri", "https://spa.example.com/cb", "--scope", "openid")
	if !strings.Contains(out, "created public client spa") || strings.Contains(out, "client_secret") {
		t.Errorf("public clients add: %q", out)
	}

	rows := tableRows(mustCLI(t, env, "", "clients", "list"))
	if h := strings.Join(rows[0], "|"); h != "ID|NAME|TYPE|SOURCE|GRANTS|SCOPES" {
		t.Errorf("header %q", h)
	}
	want := [][]string{
		{"batch", "Batch jobs", "confidential", "database", "client_credentials", "api api.read"},
		{"cli-test", "-", "public", "config", "password,refresh_token", "openid profile offline_access"},
		{"spa", "-", "public", "database", "authorization_code", "openid"},
	}
	if len(rows) != 4 {
		t.Fatalf("rows %q", rows)
	}
	for i, w := range want {
		if got := strings.Join(rows[i+1], "|"); got != strings.Join(w, "|") {
			t.Errorf("row %d = %q, want %q", i+1, got, strings.Join(w, "|"))
		}
	}
	var list []struct {
		ID       string   `json:"id"`
		Source   string   `json:"source"`
		ReadOnly bool     `json:"read_only"`
		Scopes   []string `json:"scopes"`
	}
	out = mustCLI(t, env, "", "clients", "list", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 3 || list[1].ID != "cli-test" || !list[1].ReadOnly || list[0].ReadOnly {
		t.Errorf("clients list --json = %+v, %v", list, err)
	}
	if strings.Contains(out, secret) || strings.Contains(out, "secret") {
		t.Errorf("the list shows secrets: %s", out)
	}
	show := mustCLI(t, env, "", "clients", "show", "--id", "cli-test")
	if !strings.Contains(show, "read-only here") || !strings.Contains(show, "Type:") {
		t.Errorf("clients show of a configured client:\n%s", show)
	}
	var one struct {
		ID           string   `json:"id"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, env, "", "clients", "show", "--id", "spa", "--json")), &one); err != nil || one.RedirectURIs[0] != "https://spa.example.com/cb" {
		t.Errorf("clients show --json = %+v, %v", one, err)
	}

	out = mustCLI(t, env, "", "clients", "rotate-secret", "--id", "batch")
	m = regexp.MustCompile(`(?m)^client_secret: (\S+)$`).FindStringSubmatch(out)
	if m == nil || m[1] == secret {
		t.Fatalf("rotate-secret printed %q", out)
	}
	checkSecret(m[1])

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"clients", "remove", "--id", "cli-test"}, "configuration file"},
		{[]string{"clients", "rotate-secret", "--id", "cli-test"}, "configuration file"},
		{[]string{"clients", "rotate-secret", "--id", "spa"}, "public"},
		{[]string{"clients", "add", "--id", "cli-test", "--grant", "password"}, "--id: is taken"},
		{[]string{"clients", "add", "--id", "x", "--public", "--grant", "client_credentials"}, "--grant: a public client cannot use client_credentials"},
		{[]string{"clients", "add", "--id", "y", "--grant", "authorization_code", "--redirect-uri", "nope"}, "--redirect-uri #0: must be an absolute URI"},
		{[]string{"clients", "add", "--grant", "password"}, "--id is required"},
		{[]string{"clients", "show", "--id", "ghost"}, `no client "ghost"`},
		{[]string{"clients", "frobnicate"}, "unknown subcommand"},
	} {
		if _, _, err := cliRun(t, env, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
	if out := mustCLI(t, env, "", "clients", "remove", "--id", "batch"); !strings.Contains(out, "removed client batch") {
		t.Errorf("clients remove: %q", out)
	}
	if _, err := db.GetClient(context.Background(), "batch"); err == nil {
		t.Error("the removed client is still stored")
	}
}

// users import rewrites one progress line on a terminal and ends it with
// the summary; off a terminal it prints the summary alone.
func TestUsersImportProgress(t *testing.T) {
	fixture := filepath.Join("..", "..", "users", "testdata", "django_users.json")
	env := migrated(t)
	out := mustCLI(t, env, "", "users", "import", "--format", "django", fixture)
	if out != "imported 4 user(s)\n" {
		t.Errorf("off a terminal: %q, want the summary line alone", out)
	}

	env = migrated(t)
	isTerminal = func(any) bool { return true }
	t.Cleanup(func() { isTerminal = terminalCheck })
	out = mustCLI(t, env, "", "users", "import", "--format", "django", fixture)
	final := regexp.MustCompile(`\rimported 4 user\(s\) *\n$`)
	if !strings.HasPrefix(out, "\rreading ") || !strings.Contains(out, ": 100% of 1.8 kB") || !strings.Contains(out, "\r4 record(s) read; importing") ||
		!final.MatchString(out) || strings.Count(out, "\n") != 1 {
		t.Errorf("on a terminal: %q", out)
	}
}

func TestAdminCommandsHelp(t *testing.T) {
	for _, c := range [][]string{
		{"users", "list", "--help"}, {"users", "show", "--help"}, {"users", "delete", "--help"},
		{"sessions", "--help"}, {"sessions", "list", "--help"}, {"sessions", "end", "--help"},
		{"clients", "--help"}, {"clients", "add", "--help"}, {"clients", "list", "--help"}, {"clients", "show", "--help"},
		{"clients", "remove", "--help"}, {"clients", "rotate-secret", "--help"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"authd"}, c...), func(string) string { return "" }, strings.NewReader(""), &out, io.Discard)
		if err != nil || !strings.Contains(out.String(), "Usage") {
			t.Errorf("%v: %v %q", c, err, out.String())
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"authd", "help"}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"users list|show", "users delete", "sessions list|end", "clients add|list|show|remove|rotate-secret"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("authd help does not mention %q", want)
		}
	}
}
