// Package storagetest is the conformance suite of storage.Storage: the
// behaviour every backend must show, written once. A backend's own test runs
// it in a few lines:
//
//	func TestStorage(t *testing.T) {
//		storagetest.RunTests(t, func(t *testing.T) storage.Storage {
//			return openEmptyDatabase(t)
//		})
//	}
//
// The suite covers every method of the interface, its sentinel errors, its
// atomicity (a failing call writes nothing) and the races the contract
// settles (refresh-family rotation, one-time token consumption, key
// updates, authorization-code redemption, the counters of the abuse
// limits). A backend that also implements RowCounter is checked not to
// grow with refresh rotations.
// Run it with -race.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"hash/fnv"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// RunTests runs the suite. newStorage must return an empty, ready storage
// (migrated, no rows) private to the calling test; RunTests closes it when
// that test ends.
func RunTests(t *testing.T, newStorage func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Storage)
	}{
		{"Ping", testPing},
		{"CreateUser", testCreateUser},
		{"CreateUserPK", testCreateUserPK},
		{"CreateUserPKConcurrent", testCreateUserPKConcurrent},
		{"GetUser", testGetUser},
		{"UpdateUser", testUpdateUser},
		{"SetPassword", testSetPassword},
		{"ChangePassword", testChangePassword},
		{"UpgradePasswordHash", testUpgradePasswordHash},
		{"SetDisabled", testSetDisabled},
		{"ImportUsers", testImportUsers},
		{"ImportUsersPK", testImportUsersPK},
		{"CreateSession", testCreateSession},
		{"ListSessions", testListSessions},
		{"EndSession", testEndSession},
		{"EndUserSessions", testEndUserSessions},
		{"EndedSessions", testEndedSessions},
		{"GetSessionAndUser", testGetSessionAndUser},
		{"RotateRefresh", testRotateRefresh},
		{"RotateRefreshKeylessFamily", testRotateRefreshKeylessFamily},
		{"RotateRefreshConcurrent", testRotateRefreshConcurrent},
		{"RotateRefreshConstantSpace", testRotateRefreshConstantSpace},
		{"RefreshReplayLastRotationOnly", testRefreshReplayLastRotationOnly},
		{"UpdateKeys", testUpdateKeys},
		{"UpdateKeysConcurrent", testUpdateKeysConcurrent},
		{"OneTimeTokens", testOneTimeTokens},
		{"ConsumeOneTimeTokenConcurrent", testConsumeOneTimeTokenConcurrent},
		{"CountOneTimeTokens", testCountOneTimeTokens},
		{"ResetPassword", testResetPassword},
		{"ResetAfterEmailChange", testResetAfterEmailChange},
		{"VerifyEmail", testVerifyEmail},
		{"RevokeJTI", testRevokeJTI},
		{"DeleteExpired", testDeleteExpired},
		{"DeleteExpiredBatches", testDeleteExpiredBatches},
		{"AuthCodes", testAuthCodes},
		{"RedeemAuthCodeConcurrent", testRedeemAuthCodeConcurrent},
		{"RedeemAuthCodeSignInSession", testRedeemAuthCodeSignInSession},
		{"BulkEndsVoidCodes", testBulkEndsVoidCodes},
		{"DeleteExpiredAuthCodes", testDeleteExpiredAuthCodes},
		{"ListUsers", testListUsers},
		{"DeleteUser", testDeleteUser},
		{"Clients", testClients},
		{"LimitAttempt", testLimitAttempt},
		{"LimitAttemptConcurrent", testLimitAttemptConcurrent},
		{"LimitAllow", testLimitAllow},
		{"LimitAllowConcurrent", testLimitAllowConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStorage(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.run(t, s)
		})
	}
}

func testPing(t *testing.T, s storage.Storage) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// errBoom is what a callback returns to abort an update.
var errBoom = errors.New("boom")

// at is the suite's reference time plus d. It has nanoseconds and a zone
// other than UTC, so a backend that drops precision or the conversion to UTC
// fails.
func at(d time.Duration) time.Time {
	return time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("UTC+1", 3600)).Add(d)
}

// newUser is a user with every field set except Email when email is "".
// Its PK is derived from id (see pkOf), so it is known before the user is
// created; the tests of pk numbering set PK to 0 themselves.
func newUser(id, username, email string) storage.User {
	return storage.User{
		ID:            id,
		PK:            pkOf(id),
		Username:      username,
		Email:         email,
		EmailVerified: email != "",
		PasswordHash:  "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		FirstName:     "First " + id,
		LastName:      "Last " + id,
		CreatedAt:     at(0),
		UpdatedAt:     at(time.Second),
	}
}

// pkOf is a pk for the user id: a number from 1,000,000 to 1,999,999 that
// hashes the id, so the few users of one test have distinct ones and they
// stay clear of the small numbers that pk numbering hands out.
func pkOf(id string) int64 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return 1_000_000 + int64(h.Sum32()%1_000_000)
}

// newSession is a session of userID with every field set, created at created.
func newSession(id, userID string, created time.Time) storage.Session {
	return storage.Session{
		ID:         id,
		UserID:     userID,
		ClientID:   "client-1",
		Scope:      "openid offline_access",
		AuthTime:   created.Add(-time.Minute),
		CreatedAt:  created,
		LastUsedAt: created,
		ExpiresAt:  created.Add(90 * 24 * time.Hour),
		UserAgent:  "storagetest/1.0",
		Address:    "192.0.2.1",
	}
}

// RowCounter is implemented by a backend that can count the rows it holds,
// by table (or whatever it stores rows in).
type RowCounter interface {
	RowCounts(ctx context.Context) (map[string]int64, error)
}

// familyKey is a family key made from seed: 32 bytes, as the refresh
// package makes them, but reproducible.
func familyKey(seed string) []byte {
	sum := sha256.Sum256([]byte("family key " + seed))
	return sum[:]
}

// newFamily is a refresh family at generation 1 whose current token has
// this hash, created at created.
func newFamily(hash string, created time.Time) *storage.RefreshFamily {
	return &storage.RefreshFamily{
		Generation: 1,
		Hash:       hash,
		Key:        familyKey(hash),
		ExpiresAt:  created.Add(14 * 24 * time.Hour),
	}
}

// withFamily is sess with a new refresh family whose token has this hash.
func withFamily(sess storage.Session, hash string) storage.Session {
	sess.Refresh = newFamily(hash, sess.CreatedAt)
	return sess
}

func mustCreateUser(t *testing.T, s storage.Storage, u storage.User) {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.ID, err)
	}
}

// mustCreateSession creates sess with, unless tokenHash is "", a refresh
// family whose current token has that hash, and returns what it created.
func mustCreateSession(t *testing.T, s storage.Storage, sess storage.Session, tokenHash string) storage.Session {
	t.Helper()
	if tokenHash != "" {
		sess = withFamily(sess, tokenHash)
	}
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession(%q): %v", sess.ID, err)
	}
	return sess
}

func mustGetUser(t *testing.T, s storage.Storage, id string) storage.User {
	t.Helper()
	u, err := s.GetUser(t.Context(), id)
	if err != nil {
		t.Fatalf("GetUser(%q): %v", id, err)
	}
	return u
}

func mustGetSession(t *testing.T, s storage.Storage, id string) storage.Session {
	t.Helper()
	sess, err := s.GetSession(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSession(%q): %v", id, err)
	}
	return sess
}

// mustRotate rotates the family of sid from generation from to a token
// with hash next, failing the test on an error.
func mustRotate(t *testing.T, s storage.Storage, sid string, from uint64, next storage.RefreshRotation, now time.Time) {
	t.Helper()
	if err := s.RotateRefresh(t.Context(), sid, from, next, now); err != nil {
		t.Fatalf("RotateRefresh(%q, from %d): %v", sid, from, err)
	}
}

// checkErr fails the test unless errors.Is(err, want); want nil means no
// error.
func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

// checkEqual compares two structs field by field: times with Equal (and a
// set time must be in UTC), byte slices with bytes.Equal, the rest with
// reflect.DeepEqual.
func checkEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		switch g := gv.Field(i).Interface().(type) {
		case time.Time:
			w := wv.Field(i).Interface().(time.Time)
			switch {
			case !g.Equal(w):
				t.Errorf("%s: %s = %v, want %v", what, name, g, w)
			case !g.IsZero() && g.Location() != time.UTC:
				t.Errorf("%s: %s = %v, want it in UTC", what, name, g)
			}
		case []byte:
			if w := wv.Field(i).Interface().([]byte); !bytes.Equal(g, w) {
				t.Errorf("%s: %s = %q, want %q", what, name, g, w)
			}
		case *storage.RefreshFamily:
			w := wv.Field(i).Interface().(*storage.RefreshFamily)
			switch {
			case g == nil && w == nil:
			case g == nil || w == nil:
				t.Errorf("%s: %s = %+v, want %+v", what, name, g, w)
			default:
				checkEqual(t, what+": "+name, *g, *w)
			}
		default:
			if w := wv.Field(i).Interface(); !reflect.DeepEqual(g, w) {
				t.Errorf("%s: %s = %#v, want %#v", what, name, g, w)
			}
		}
	}
}

// checkIDs compares two sets of ids, ignoring order.
func checkIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		t.Errorf("%s = %q, want %q (in any order)", what, g, w)
	}
}

// checkFamiliesGone fails unless the sessions exist without a refresh
// family.
func checkFamiliesGone(t *testing.T, s storage.Storage, sids ...string) {
	t.Helper()
	for _, id := range sids {
		if f := mustGetSession(t, s, id).Refresh; f != nil {
			t.Errorf("session %s: Refresh = %+v, want none", id, f)
		}
	}
}

// checkFamiliesLive fails unless the sessions have a refresh family.
func checkFamiliesLive(t *testing.T, s storage.Storage, sids ...string) {
	t.Helper()
	for _, id := range sids {
		if mustGetSession(t, s, id).Refresh == nil {
			t.Errorf("session %s: no refresh family, want one", id)
		}
	}
}
