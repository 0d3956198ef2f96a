package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"golang.org/x/oauth2"
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
