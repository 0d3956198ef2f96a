package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"golang.org/x/oauth2"

	"github.com/authd/authd/storage"
)

// A code dies with the sign-in that issued it: once that browser session
// has ended (signed out, or every session of the user ended), the code no
// longer starts a session.
func TestCodeDiesWithItsSignIn(t *testing.T) {
	for name, end := range map[string]func(e *testEnv, userID, signIn string) error{
		"sign-in ended": func(e *testEnv, _, signIn string) error {
			return e.store.EndSession(context.Background(), signIn, e.clock.Now())
		},
		"all sessions ended": func(e *testEnv, userID, _ string) error {
			_, err := e.store.EndUserSessions(context.Background(), userID, "", e.clock.Now())
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, withCodeClients)
			u := e.addUser("alice", alicePW)
			cc := e.codeClient(codeID, "", codeRedirect)
			code := cc.code(t, e, e.browser().authorize(cc.authURL(), "alice", alicePW))
			sum := sha256.Sum256([]byte(code))
			ac, err := e.store.GetAuthCode(context.Background(), hex.EncodeToString(sum[:]))
			if err != nil || ac.SignInSessionID == "" {
				t.Fatalf("stored code = %+v, %v; want it bound to its sign-in session", ac, err)
			}
			if err := end(e, u.ID, ac.SignInSessionID); err != nil {
				t.Fatal(err)
			}
			_, err = cc.exchange(code, oauth2.VerifierOption(cc.verifier))
			wantGrantError(t, err, "invalid_grant")
		})
	}
}

// An authorization code minted before a password change, a reset, an
// operator's set-password, a disable or "sign out everywhere" no longer
// redeems afterwards: each ends the sign-in the code came from.
func TestCodeVoidedByAccountChanges(t *testing.T) {
	ctx := context.Background()
	for name, change := range map[string]func(t *testing.T, e *testEnv){
		"password changed at /account/password": func(t *testing.T, e *testEnv) {
			at := str(e.login(spaID, "alice", alicePW), "access_token")
			if r := e.postJSON("POST", "/account/password", `{"old_password":"`+alicePW+`","new_password":"a brand new password 1"}`, at); r.status != 204 {
				t.Fatalf("password change: %d %s", r.status, r.body)
			}
		},
		"password reset": func(t *testing.T, e *testEnv) {
			if r := e.postJSON("POST", "/account/password/reset", `{"email":"alice@example.com"}`, ""); r.status != 202 {
				t.Fatalf("reset request: %d", r.status)
			}
			tok, _ := e.mailToken("/password/reset")
			if r := e.postJSON("POST", "/account/password/reset/confirm", `{"token":"`+tok+`","new_password":"a brand new password 1"}`, ""); r.status != 204 {
				t.Fatalf("reset confirm: %d %s", r.status, r.body)
			}
		},
		"users set-password": func(t *testing.T, e *testEnv) {
			u, _ := e.store.GetUserByUsername(ctx, "alice")
			if err := e.srv.Accounts().SetPassword(ctx, u, "a brand new password 1", "test"); err != nil {
				t.Fatal(err)
			}
		},
		"disabled": func(t *testing.T, e *testEnv) {
			u, _ := e.store.GetUserByUsername(ctx, "alice")
			if err := e.srv.Accounts().SetDisabled(ctx, u, true, "test"); err != nil {
				t.Fatal(err)
			}
		},
		"signed out everywhere": func(t *testing.T, e *testEnv) {
			u, _ := e.store.GetUserByUsername(ctx, "alice")
			if err := e.srv.Accounts().SignOutEverywhere(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, withCodeClients)
			e.addUser("alice", alicePW, func(u *storage.User) { u.Email = "alice@example.com" })
			b := e.browser()
			first := e.codeClient(codeID, "", codeRedirect)
			if _, err := first.exchange(first.code(t, e, b.authorize(first.authURL(), "alice", alicePW)), oauth2.VerifierOption(first.verifier)); err != nil {
				t.Fatal(err)
			}
			// A second code from the same sign-in, without a page (the
			// browser is signed in).
			second := e.codeClient(codeID, "", codeRedirect)
			r := b.get(second.authURL("prompt", "none"))
			code := second.code(t, e, location(t, r))
			change(t, e)
			_, err := second.exchange(code, oauth2.VerifierOption(second.verifier))
			wantGrantError(t, err, "invalid_grant")
		})
	}
}
