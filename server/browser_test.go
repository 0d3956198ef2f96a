package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authd/authd/config"
)

// chromiumPath is where Debian's chromium package puts the browser; .ci/run
// installs it.
const chromiumPath = "/usr/bin/chromium"

// newChromium starts a headless Chromium with a fresh profile, stopped
// when the test ends or after limit, whichever comes first. It skips the
// test where no Chromium is installed.
func newChromium(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test skipped: no Chromium at %s (apt-get install chromium)", chromiumPath)
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	// The limit stops the whole browser: no step can hang the test.
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // containers and CI runners often forbid the sandbox's namespaces
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return bctx
}

// artifacts is where the browser tests leave their screenshots:
// test-artifacts/browser at the top of the repository (ignored by git).
func artifacts(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "test-artifacts", "browser"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves a full-page PNG as a test artifact and, when
// AUTHD_UPDATE_SCREENSHOTS=1, as docs/screenshots/readme (for the README).
func screenshot(t *testing.T, ctx context.Context, name, readme string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(artifacts(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	if readme != "" && os.Getenv("AUTHD_UPDATE_SCREENSHOTS") == "1" {
		dst := filepath.Join("..", "docs", "screenshots", readme)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("README screenshot updated: %s", dst)
	}
}

// demoApp is the demo client's side on loopback: its redirect URI records
// the authorization responses.
type demoApp struct {
	srv       *httptest.Server
	responses chan url.Values
}

func newDemoApp(t *testing.T) *demoApp {
	d := &demoApp{responses: make(chan url.Values, 8)}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case d.responses <- r.URL.Query():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!DOCTYPE html><html lang="en"><title>Demo app</title><h1 id="demo">Back in the demo app</h1></html>`)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *demoApp) redirectURI() string { return d.srv.URL + "/callback" }

// response waits for the next authorization response.
func (d *demoApp) response(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-d.responses:
		return q
	case <-time.After(10 * time.Second):
		t.Fatalf("the demo app got no authorization response")
		return nil
	}
}

// A person, in a real browser: registers, confirms the email from the mail,
// signs out, signs in through the demo client's authorization request,
// changes the password, sees two sessions and signs one of them out.
func TestBrowserJourney(t *testing.T) {
	bctx := newChromium(t, 3*time.Minute)
	app := newDemoApp(t)
	e := newEnv(t, func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{
			ID: "demo-spa", Public: true, Grants: []string{"authorization_code", "refresh_token"},
			RedirectURIs: []string{app.redirectURI()},
			Scopes:       []string{"openid", "profile", "email", "offline_access"},
		})
	})
	cc := e.codeClient("demo-spa", "", app.redirectURI())
	ctx := context.Background()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			screenshot(t, bctx, "failed.png", "")
			t.Fatalf("%s: %v", what, err)
		}
	}
	// submit clicks a form's button and waits for the page it leads to.
	submit := func(what string, button chromedp.CSS) {
		t.Helper()
		resp, err := chromedp.RunResponse(bctx, chromedp.Click(button))
		if err != nil {
			screenshot(t, bctx, "failed.png", "")
			t.Fatalf("%s: %v", what, err)
		}
		if resp.Status >= 400 {
			screenshot(t, bctx, "failed.png", "")
			t.Fatalf("%s: status %d at %s", what, resp.Status, resp.URL)
		}
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	where := func() *url.URL {
		t.Helper()
		loc, err := chromedp.Run(bctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return mustURL(t, loc)
	}

	// Register.
	do("open the registration page", chromedp.Navigate(e.url+"/register"))
	do("fill in the registration form",
		chromedp.SendKeys(chromedp.ID("username"), "ada"),
		chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), "analytical engine 1843"),
		chromedp.SendKeys(chromedp.ID("password2"), "analytical engine 1843"),
	)
	screenshot(t, bctx, "1-register.png", "")
	submit("register", `form[action="/register"] button[type=submit]`)
	if got := text(`main`); !strings.Contains(got, "Your account is ready") || !strings.Contains(got, "not confirmed yet") {
		t.Fatalf("after registering: %q", got)
	}

	// Confirm the email from the mail.
	tok, _ := e.mailToken("/email/verify")
	do("open the mail's link", chromedp.Navigate(e.url+"/email/verify?"+url.Values{"token": {tok}}.Encode()))
	submit("confirm the email", `form[action="/email/verify"] button[type=submit]`)
	if got := text(`main`); !strings.Contains(got, "Your email address is confirmed") {
		t.Fatalf("after confirming: %q", got)
	}

	// Sign out, then sign in through the demo client's authorization
	// request.
	do("open the account page", chromedp.Navigate(e.url+"/account"))
	submit("sign out", `header form[action="/signout"] button`)
	if got := text(`main`); !strings.Contains(got, "You are signed out") {
		t.Fatalf("after signing out: %q", got)
	}
	do("open the demo client's authorization URL", chromedp.Navigate(cc.authURL()))
	if p := where().Path; p != "/signin" {
		t.Fatalf("authorization request led to %s, want the sign-in page", p)
	}
	do("fill in the sign-in form",
		chromedp.SendKeys(chromedp.ID("username"), "ada"),
		chromedp.SendKeys(chromedp.ID("password"), "analytical engine 1843"),
		chromedp.Blur(chromedp.ID("password")),
	)
	screenshot(t, bctx, "2-signin.png", "signin.png")
	submit("sign in", `form[action="/signin"] button[type=submit]`)
	if got := text(`#demo`); got != "Back in the demo app" {
		t.Fatalf("after signing in the browser shows %q at %s", got, where())
	}
	q := app.response(t)
	if q.Get("state") != cc.state || q.Get("iss") != e.url {
		t.Errorf("authorization response state %q iss %q", q.Get("state"), q.Get("iss"))
	}
	first, err := cc.exchange(q.Get("code"), oauth2.VerifierOption(cc.verifier))
	if err != nil {
		t.Fatalf("the demo client's code exchange: %v", err)
	}
	idt, err := cc.provider.Verifier(&oidc.Config{ClientID: "demo-spa", Now: e.clock.Now}).Verify(ctx, first.Extra("id_token").(string))
	if err != nil || idt.Nonce != cc.nonce {
		t.Fatalf("ID token: %v (nonce %q, want %q)", err, idt.Nonce, cc.nonce)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != "ada@example.com" || !claims.EmailVerified {
		t.Errorf("ID token email claims = %+v, %v; want the confirmed address", claims, err)
	}

	// Change the password: the demo client's session ends, this browser's
	// stays.
	do("open the account page", chromedp.Navigate(e.url+"/account"))
	do("fill in the password form",
		chromedp.SendKeys(chromedp.ID("old_password"), "analytical engine 1843"),
		chromedp.SendKeys(chromedp.ID("new_password"), "difference engine 1822"),
		chromedp.SendKeys(chromedp.ID("new_password2"), "difference engine 1822"),
	)
	submit("change the password", `form[action="/account"] input[value=password] ~ button[type=submit]`)
	if got := text(`main`); !strings.Contains(got, "Your password is changed") {
		t.Fatalf("after the password change: %q", got)
	}
	wantOAuthError(t, e.refresh("demo-spa", first.RefreshToken), http.StatusBadRequest, "invalid_grant")

	// Signed in, a new authorization request comes straight back with a
	// code: the demo client has a session again, and the account page
	// lists two.
	cc2 := e.codeClient("demo-spa", "", app.redirectURI())
	do("authorize again", chromedp.Navigate(cc2.authURL()), chromedp.WaitVisible(chromedp.ID("demo")))
	second, err := cc2.exchange(app.response(t).Get("code"), oauth2.VerifierOption(cc2.verifier))
	if err != nil {
		t.Fatalf("second exchange: %v", err)
	}
	do("open the account page", chromedp.Navigate(e.url+"/account"))
	sessions := text(`ul.sessions`)
	if n := strings.Count(sessions, "Signed in "); n != 2 || !strings.Contains(sessions, "demo-spa") || !strings.Contains(sessions, "this browser") {
		t.Fatalf("sessions listed: %q, want this browser and demo-spa", sessions)
	}
	screenshot(t, bctx, "3-account.png", "account.png")

	// Sign the demo client's session out from the list.
	submit("sign the demo client out", `ul.sessions li:not(:has(.badge)) form button`)
	if got := text(`main`); !strings.Contains(got, "That session is signed out") {
		t.Fatalf("after signing a session out: %q", got)
	}
	if n := strings.Count(text(`ul.sessions`), "Signed in "); n != 1 {
		t.Errorf("sessions left: %d, want this browser's only", n)
	}
	wantOAuthError(t, e.refresh("demo-spa", second.RefreshToken), http.StatusBadRequest, "invalid_grant")
	screenshot(t, bctx, "4-session-ended.png", "")

	// On a phone-sized screen nothing overflows sideways.
	do("emulate a phone", chromedp.EmulateViewport(390, 844), chromedp.Reload())
	fits, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil || !fits {
		t.Errorf("account page on a 390px screen: fits %v, %v; want no horizontal scrolling", fits, err)
	}
	screenshot(t, bctx, "5-account-phone.png", "")
}
