package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authd/authd/config"
)

// signinPage follows an authorization request to the sign-in page.
func signinPage(t *testing.T, e *testEnv, clientID, redirect string) string {
	t.Helper()
	b := e.browser()
	r := b.get(e.codeClient(clientID, "", redirect).authURL())
	for hops := 0; r.status == http.StatusSeeOther || r.status == http.StatusFound; hops++ {
		if hops > 3 {
			t.Fatalf("too many redirects")
		}
		r = b.get(r.header.Get("Location"))
	}
	if r.status != http.StatusOK {
		t.Fatalf("sign-in page: %d %s", r.status, r.body)
	}
	return string(r.body)
}

// web.site_name names the service in every page's title and header, and a
// client's name (else its id) is what the sign-in page continues to;
// without either, pages look as they always did.
func TestBranding(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		e := newEnv(t, withCodeClients)
		page := signinPage(t, e, codeID, codeRedirect)
		for _, want := range []string{
			"<title>Sign in · authd</title>",
			`<a class="brand" href="/account">authd</a>`,
			`to continue to <span class="client">web</span>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("sign-in page lacks %s", want)
			}
		}
	})
	t.Run("custom", func(t *testing.T) {
		e := newEnv(t, withCodeClients, func(cfg *config.Config) {
			cfg.Web.SiteName = "Acme & Co accounts"
			for i := range cfg.Clients {
				if cfg.Clients[i].ID == codeID {
					cfg.Clients[i].Name = "Acme <Dashboard>"
				}
			}
		})
		page := signinPage(t, e, codeID, codeRedirect)
		for _, want := range []string{
			"<title>Sign in · Acme &amp; Co accounts</title>",
			`<a class="brand" href="/account">Acme &amp; Co accounts</a>`,
			`to continue to <span class="client">Acme &lt;Dashboard&gt;</span>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("sign-in page lacks %s", want)
			}
		}
		if strings.Contains(page, "· authd<") || strings.Contains(page, ">authd</a>") {
			t.Error("the default site name is still shown")
		}
		// Every page, not the sign-in page alone.
		for _, path := range []string{"/register", "/password/forgot"} {
			r := e.do("GET", path, nil)
			if !strings.Contains(string(r.body), "· Acme &amp; Co accounts</title>") || !strings.Contains(string(r.body), `class="brand" href="/account">Acme &amp; Co accounts</a>`) {
				t.Errorf("%s does not carry the site name", path)
			}
		}
	})
}
