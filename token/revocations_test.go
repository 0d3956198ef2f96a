package token_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/authd/authd/storage/sqlite"
	"github.com/authd/authd/token"
)

// A revoked jti stays in the view until its token's exp plus the skew that
// verification allows: dropping it at exp would make the token valid again
// for the skew. Both its own record and a poll of the database keep it.
func TestViewKeepsRevokedJTIThroughSkew(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"), sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(1_800_000_000, 0).UTC()
	const skew = time.Minute
	if err := db.RevokeJTI(ctx, "polled-jti", exp); err != nil {
		t.Fatal(err)
	}
	v := token.NewView(15*time.Minute, skew)
	v.RevokeJTI("own-jti", exp)
	for _, tc := range []struct {
		at   time.Time
		dead bool
	}{
		{exp.Add(-time.Second), true},
		{exp.Add(30 * time.Second), true}, // past exp, within the skew
		{exp.Add(skew + time.Second), false},
	} {
		if err := v.Poll(ctx, db, tc.at); err != nil {
			t.Fatal(err)
		}
		for _, jti := range []string{"own-jti", "polled-jti"} {
			if got := v.Dead("", jti); got != tc.dead {
				t.Errorf("at exp%+v: Dead(%s) = %v, want %v", tc.at.Sub(exp), jti, got, tc.dead)
			}
		}
	}
}
