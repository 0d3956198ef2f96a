package keys_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the layering (imports go one way): keys sits
// below server and knows nothing of HTTP frameworks.
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/authd/authd/keys").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/labstack/") ||
			strings.HasPrefix(dep, "github.com/authd/authd/") && dep != "github.com/authd/authd/keys" && dep != "github.com/authd/authd/storage" {
			t.Errorf("keys depends on %s", dep)
		}
	}
}
