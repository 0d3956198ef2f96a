// Package layering holds authd's import rules as a test: the domain
// packages hold the rules and know nothing of HTTP, storage and web import
// nothing of authd's, and only the HTTP layer and the binaries import echo.
package layering_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/authd/authd/"

// domain are the packages that hold authd's rules without HTTP.
var domain = []string{
	"account", "audit", "compat", "config", "core", "errs", "keys", "mail", "oauth",
	"password", "session", "storage", "throttle", "token", "users",
}

// deps lists the packages pkg depends on, itself excluded.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var list []string
	for _, d := range strings.Fields(string(out)) {
		if d != module+pkg {
			list = append(list, d)
		}
	}
	return list
}

func TestDomainPackagesKnowNoHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, pkg := range domain {
		for _, d := range deps(t, pkg) {
			if d == "net/http" || strings.HasPrefix(d, "github.com/labstack/") || d == module+"server" {
				t.Errorf("%s depends on %s: the domain packages must not know HTTP", pkg, d)
			}
		}
	}
}

func TestStorageAndWebImportNothingOfAuthd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, pkg := range []string{"storage", "web", "errs"} {
		for _, d := range deps(t, pkg) {
			if strings.HasPrefix(d, module) {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}

func TestOnlyServerAndCommandsImportEcho(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{module + "cmd/authd", module + "cmd/authbench"}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		http := fields[0] == module+"server" || strings.HasPrefix(fields[0], module+"server/") || slices.Contains(allowed, fields[0])
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, "github.com/labstack/") && !http {
				t.Errorf("%s imports %s: only the HTTP layer may", fields[0], imp)
			}
		}
	}
}
