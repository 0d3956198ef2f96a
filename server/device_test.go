package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authd/authd/config"
)

// signInFrom posts the sign-in form from the client address addr (through
// the trusted proxy on loopback).
func (b *browser) signInFrom(addr, username, pw string) response {
	b.t.Helper()
	page := b.get("/signin")
	form := hidden(page.body)
	form.Set("username", username)
	form.Set("password", pw)
	return b.post("/signin", form, "X-Forwarded-For", addr)
}

func deviceCookie(r response) *http.Cookie {
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == "authd_device" {
			return ck
		}
	}
	return nil
}

// TestDeviceCookieBeatsAccountLock: a successful sign-in sets a long-lived
// HttpOnly device cookie, which signing out keeps; once guesses from
// elsewhere lock the account, a browser without it is refused, and the
// browser that holds it still signs in, from a new address too.
func TestDeviceCookieBeatsAccountLock(t *testing.T) {
	e := newEnv(t, func(cfg *config.Config) {
		cfg.HTTP.TrustedProxies = []string{"127.0.0.1/32"}
		cfg.Throttle.AccountFailures = 3
	})
	e.addUser("alice", alicePW)
	own := e.browser()

	r := own.get("/signin")
	if deviceCookie(r) != nil {
		t.Error("the sign-in page sets a device cookie before any sign-in")
	}
	r = own.signInFrom("198.51.100.10", "alice", "wrong password")
	if r.status != http.StatusBadRequest || deviceCookie(r) != nil {
		t.Errorf("failed sign-in: status %d, device cookie %v; want 400 and none", r.status, deviceCookie(r))
	}
	r = own.signInFrom("198.51.100.10", "alice", alicePW)
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d, want 303 (body %.300s)", r.status, r.body)
	}
	ck := deviceCookie(r)
	if ck == nil {
		t.Fatal("no device cookie after a successful sign-in")
	}
	if len(ck.Value) != 43 || !ck.HttpOnly || ck.MaxAge != 30*24*3600 || ck.Path != "/" || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("device cookie %s: want 43 characters, HttpOnly, Max-Age 30 days, Path /, SameSite=Lax", ck)
	}
	first := ck.Value
	// Signing out keeps the device cookie: it signs nobody in.
	page := own.get("/account")
	if r := own.post("/signout", hidden(page.body)); r.status != http.StatusSeeOther {
		t.Fatalf("sign-out: status %d", r.status)
	}
	u, _ := url.Parse(e.url)
	var kept bool
	for _, ck := range own.c.Jar.Cookies(u) {
		kept = kept || ck.Name == "authd_device" && ck.Value == first
		if strings.Contains(ck.Name, "session") {
			t.Errorf("session cookie %s left after sign-out", ck.Name)
		}
	}
	if !kept {
		t.Error("sign-out dropped the device cookie")
	}

	// Guesses from three other addresses lock the account.
	for _, addr := range []string{"10.1.1.1", "10.1.1.2", "10.1.1.3"} {
		e.token(url.Values{"grant_type": {"password"}, "client_id": {spaID}, "username": {"alice"}, "password": {"guess"}}, "X-Forwarded-For", addr)
	}
	stranger := e.browser()
	if r := stranger.signInFrom("203.0.113.5", "alice", alicePW); r.status != http.StatusTooManyRequests {
		t.Errorf("right password from a new browser and address of a locked account: status %d, want 429", r.status)
	}
	r = own.signInFrom("203.0.113.6", "alice", alicePW)
	if r.status != http.StatusSeeOther {
		t.Fatalf("right password from the known browser at a new address: status %d, want 303 (body %.300s)", r.status, r.body)
	}
	if ck := deviceCookie(r); ck == nil || ck.Value != first {
		t.Errorf("device cookie after the second sign-in %v, want the same secret renewed", ck)
	}
}
