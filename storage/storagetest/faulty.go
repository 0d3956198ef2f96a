package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/authd/authd/storage"
)

// ErrInjected is a convenient fault for Faulty: a database error that no
// caller can mistake for a sentinel of package storage.
var ErrInjected = errors.New("injected fault")

// Faulty wraps a storage.Storage and makes chosen methods fail, so tests can
// check what callers do when the database errors. A failing method returns
// the injected error (and zero values) without calling the wrapped storage,
// so it writes nothing; every other method is passed through.
//
// Every method of storage.Storage is overridden below, one short method
// each; TestFaultyCoversStorage fails when a method added to the interface
// is not, so none silently bypasses the faults. Faulty also counts the calls
// of each method, for tests that need to know which methods a request uses.
// It has the methods of storage.Storage only: optional interfaces of the
// wrapped backend, which callers find by type assertion, are hidden by it.
// It is safe for concurrent use.
type Faulty struct {
	storage.Storage

	mu     sync.Mutex
	faults map[string]error
	all    error
	calls  map[string]int
}

// NewFaulty wraps s with no faults.
func NewFaulty(s storage.Storage) *Faulty { return &Faulty{Storage: s} }

// storageMethods is the method set of storage.Storage, to catch a
// misspelt method name in Fail.
var storageMethods = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[storage.Storage]()
	for i := range t.NumMethod() {
		m[t.Method(i).Name] = true
	}
	return m
}()

// Fail makes method return err from now on, until Reset. It panics for a
// name that is not a method of storage.Storage or a nil err.
func (f *Faulty) Fail(method string, err error) {
	if !storageMethods[method] {
		panic(fmt.Sprintf("storagetest: Fail(%q): storage.Storage has no such method", method))
	}
	if err == nil {
		panic("storagetest: Fail: nil error")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.faults == nil {
		f.faults = map[string]error{}
	}
	f.faults[method] = err
}

// FailAll makes every method return err from now on, until Reset. A fault
// set with Fail takes precedence for its method.
func (f *Faulty) FailAll(err error) {
	if err == nil {
		panic("storagetest: FailAll: nil error")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.all = err
}

// Reset removes every fault and forgets the calls counted so far.
func (f *Faulty) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults, f.all, f.calls = nil, nil, nil
}

// Calls returns the names of the methods called since the last Reset,
// failed or not, sorted.
func (f *Faulty) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.calls))
	for name := range f.calls {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Count returns how many times method was called since the last Reset.
func (f *Faulty) Count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// fault counts a call of method and returns its injected error, or nil.
func (f *Faulty) fault(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[method]++
	if err, ok := f.faults[method]; ok {
		return err
	}
	return f.all
}

// Close does not close the wrapped storage when it fails: the test that
// opened it still owns it.
func (f *Faulty) Close() error {
	if err := f.fault("Close"); err != nil {
		return err
	}
	return f.Storage.Close()
}

func (f *Faulty) Ping(ctx context.Context) error {
	if err := f.fault("Ping"); err != nil {
		return err
	}
	return f.Storage.Ping(ctx)
}

func (f *Faulty) RevokeJTI(ctx context.Context, jti string, exp time.Time) error {
	if err := f.fault("RevokeJTI"); err != nil {
		return err
	}
	return f.Storage.RevokeJTI(ctx, jti, exp)
}

func (f *Faulty) RevokedJTIs(ctx context.Context, now time.Time) ([]storage.RevokedJTI, error) {
	if err := f.fault("RevokedJTIs"); err != nil {
		return nil, err
	}
	return f.Storage.RevokedJTIs(ctx, now)
}

func (f *Faulty) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := f.fault("DeleteExpired"); err != nil {
		return 0, err
	}
	return f.Storage.DeleteExpired(ctx, now, limit)
}

// UserStore.

func (f *Faulty) CreateUser(ctx context.Context, u storage.User) error {
	if err := f.fault("CreateUser"); err != nil {
		return err
	}
	return f.Storage.CreateUser(ctx, u)
}

func (f *Faulty) GetUser(ctx context.Context, id string) (storage.User, error) {
	if err := f.fault("GetUser"); err != nil {
		return storage.User{}, err
	}
	return f.Storage.GetUser(ctx, id)
}

func (f *Faulty) GetUserByPK(ctx context.Context, pk int64) (storage.User, error) {
	if err := f.fault("GetUserByPK"); err != nil {
		return storage.User{}, err
	}
	return f.Storage.GetUserByPK(ctx, pk)
}

func (f *Faulty) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	if err := f.fault("GetUserByUsername"); err != nil {
		return storage.User{}, err
	}
	return f.Storage.GetUserByUsername(ctx, username)
}

func (f *Faulty) GetUserByEmail(ctx context.Context, email string) (storage.User, error) {
	if err := f.fault("GetUserByEmail"); err != nil {
		return storage.User{}, err
	}
	return f.Storage.GetUserByEmail(ctx, email)
}

func (f *Faulty) UpdateUser(ctx context.Context, id string, now time.Time, fn func(*storage.User) error) (storage.User, error) {
	if err := f.fault("UpdateUser"); err != nil {
		return storage.User{}, err
	}
	return f.Storage.UpdateUser(ctx, id, now, fn)
}

func (f *Faulty) SetPassword(ctx context.Context, userID, hash, keepSession string, now time.Time) ([]string, error) {
	if err := f.fault("SetPassword"); err != nil {
		return nil, err
	}
	return f.Storage.SetPassword(ctx, userID, hash, keepSession, now)
}

func (f *Faulty) ChangePassword(ctx context.Context, userID, oldHash, newHash, keepSession string, now time.Time) ([]string, error) {
	if err := f.fault("ChangePassword"); err != nil {
		return nil, err
	}
	return f.Storage.ChangePassword(ctx, userID, oldHash, newHash, keepSession, now)
}

func (f *Faulty) UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string, now time.Time) (bool, error) {
	if err := f.fault("UpgradePasswordHash"); err != nil {
		return false, err
	}
	return f.Storage.UpgradePasswordHash(ctx, userID, oldHash, newHash, now)
}

func (f *Faulty) SetDisabled(ctx context.Context, userID string, disabled bool, now time.Time) ([]string, error) {
	if err := f.fault("SetDisabled"); err != nil {
		return nil, err
	}
	return f.Storage.SetDisabled(ctx, userID, disabled, now)
}

func (f *Faulty) ImportUsers(ctx context.Context, users []storage.User) ([]string, error) {
	if err := f.fault("ImportUsers"); err != nil {
		return nil, err
	}
	return f.Storage.ImportUsers(ctx, users)
}

// SessionStore.

func (f *Faulty) CreateSession(ctx context.Context, s storage.Session) error {
	if err := f.fault("CreateSession"); err != nil {
		return err
	}
	return f.Storage.CreateSession(ctx, s)
}

func (f *Faulty) GetSessionAndUser(ctx context.Context, id string) (storage.Session, storage.User, error) {
	if err := f.fault("GetSessionAndUser"); err != nil {
		return storage.Session{}, storage.User{}, err
	}
	return f.Storage.GetSessionAndUser(ctx, id)
}

func (f *Faulty) GetSession(ctx context.Context, id string) (storage.Session, error) {
	if err := f.fault("GetSession"); err != nil {
		return storage.Session{}, err
	}
	return f.Storage.GetSession(ctx, id)
}

func (f *Faulty) ListSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	if err := f.fault("ListSessions"); err != nil {
		return nil, err
	}
	return f.Storage.ListSessions(ctx, userID, now)
}

func (f *Faulty) EndSession(ctx context.Context, id string, now time.Time) error {
	if err := f.fault("EndSession"); err != nil {
		return err
	}
	return f.Storage.EndSession(ctx, id, now)
}

func (f *Faulty) EndUserSessions(ctx context.Context, userID, keep string, now time.Time) ([]string, error) {
	if err := f.fault("EndUserSessions"); err != nil {
		return nil, err
	}
	return f.Storage.EndUserSessions(ctx, userID, keep, now)
}

func (f *Faulty) EndedSessions(ctx context.Context, since time.Time) ([]storage.EndedSession, error) {
	if err := f.fault("EndedSessions"); err != nil {
		return nil, err
	}
	return f.Storage.EndedSessions(ctx, since)
}

// RefreshFamilyStore.

func (f *Faulty) RotateRefresh(ctx context.Context, sid string, fromGen uint64, next storage.RefreshRotation, now time.Time) error {
	if err := f.fault("RotateRefresh"); err != nil {
		return err
	}
	return f.Storage.RotateRefresh(ctx, sid, fromGen, next, now)
}

func (f *Faulty) LegacyRefreshSession(ctx context.Context, hash string) (string, error) {
	if err := f.fault("LegacyRefreshSession"); err != nil {
		return "", err
	}
	return f.Storage.LegacyRefreshSession(ctx, hash)
}

// KeyStore.

func (f *Faulty) ListKeys(ctx context.Context) ([]storage.Key, error) {
	if err := f.fault("ListKeys"); err != nil {
		return nil, err
	}
	return f.Storage.ListKeys(ctx)
}

func (f *Faulty) UpdateKeys(ctx context.Context, fn func(current []storage.Key) ([]storage.Key, error)) error {
	if err := f.fault("UpdateKeys"); err != nil {
		return err
	}
	return f.Storage.UpdateKeys(ctx, fn)
}

// OneTimeTokenStore.

func (f *Faulty) CreateOneTimeToken(ctx context.Context, t storage.OneTimeToken) error {
	if err := f.fault("CreateOneTimeToken"); err != nil {
		return err
	}
	return f.Storage.CreateOneTimeToken(ctx, t)
}

func (f *Faulty) ConsumeOneTimeToken(ctx context.Context, hash, purpose string, now time.Time) (storage.OneTimeToken, error) {
	if err := f.fault("ConsumeOneTimeToken"); err != nil {
		return storage.OneTimeToken{}, err
	}
	return f.Storage.ConsumeOneTimeToken(ctx, hash, purpose, now)
}

func (f *Faulty) GetOneTimeToken(ctx context.Context, hash, purpose string, now time.Time) (storage.OneTimeToken, error) {
	if err := f.fault("GetOneTimeToken"); err != nil {
		return storage.OneTimeToken{}, err
	}
	return f.Storage.GetOneTimeToken(ctx, hash, purpose, now)
}

func (f *Faulty) CountOneTimeTokens(ctx context.Context, userID, purpose string, since time.Time) (int, error) {
	if err := f.fault("CountOneTimeTokens"); err != nil {
		return 0, err
	}
	return f.Storage.CountOneTimeTokens(ctx, userID, purpose, since)
}

func (f *Faulty) ResetPassword(ctx context.Context, hash, passwordHash string, now time.Time) (storage.User, []string, error) {
	if err := f.fault("ResetPassword"); err != nil {
		return storage.User{}, nil, err
	}
	return f.Storage.ResetPassword(ctx, hash, passwordHash, now)
}

func (f *Faulty) VerifyEmail(ctx context.Context, hash string, now time.Time) (storage.User, error) {
	if err := f.fault("VerifyEmail"); err != nil {
		return storage.User{}, err
	}
	return f.Storage.VerifyEmail(ctx, hash, now)
}

// AuthCodeStore.

func (f *Faulty) CreateAuthCode(ctx context.Context, c storage.AuthCode) error {
	if err := f.fault("CreateAuthCode"); err != nil {
		return err
	}
	return f.Storage.CreateAuthCode(ctx, c)
}

func (f *Faulty) GetAuthCode(ctx context.Context, hash string) (storage.AuthCode, error) {
	if err := f.fault("GetAuthCode"); err != nil {
		return storage.AuthCode{}, err
	}
	return f.Storage.GetAuthCode(ctx, hash)
}

func (f *Faulty) RedeemAuthCode(ctx context.Context, hash string, sess storage.Session, now time.Time) (storage.AuthCode, error) {
	if err := f.fault("RedeemAuthCode"); err != nil {
		return storage.AuthCode{}, err
	}
	return f.Storage.RedeemAuthCode(ctx, hash, sess, now)
}

// Operators' methods.

func (f *Faulty) ListUsers(ctx context.Context, q storage.UserQuery) ([]storage.User, error) {
	if err := f.fault("ListUsers"); err != nil {
		return nil, err
	}
	return f.Storage.ListUsers(ctx, q)
}

func (f *Faulty) DeleteUser(ctx context.Context, id string, now time.Time) ([]string, error) {
	if err := f.fault("DeleteUser"); err != nil {
		return nil, err
	}
	return f.Storage.DeleteUser(ctx, id, now)
}

// ClientStore.

func (f *Faulty) CreateClient(ctx context.Context, c storage.Client) error {
	if err := f.fault("CreateClient"); err != nil {
		return err
	}
	return f.Storage.CreateClient(ctx, c)
}

func (f *Faulty) GetClient(ctx context.Context, id string) (storage.Client, error) {
	if err := f.fault("GetClient"); err != nil {
		return storage.Client{}, err
	}
	return f.Storage.GetClient(ctx, id)
}

func (f *Faulty) ListClients(ctx context.Context) ([]storage.Client, error) {
	if err := f.fault("ListClients"); err != nil {
		return nil, err
	}
	return f.Storage.ListClients(ctx)
}

func (f *Faulty) UpdateClient(ctx context.Context, id string, now time.Time, fn func(*storage.Client) error) (storage.Client, error) {
	if err := f.fault("UpdateClient"); err != nil {
		return storage.Client{}, err
	}
	return f.Storage.UpdateClient(ctx, id, now, fn)
}

func (f *Faulty) DeleteClient(ctx context.Context, id string) error {
	if err := f.fault("DeleteClient"); err != nil {
		return err
	}
	return f.Storage.DeleteClient(ctx, id)
}

// LimitStore.

func (f *Faulty) LimitAttempt(ctx context.Context, key string, now time.Time, p storage.FailurePolicy) (time.Duration, error) {
	if err := f.fault("LimitAttempt"); err != nil {
		return 0, err
	}
	return f.Storage.LimitAttempt(ctx, key, now, p)
}

func (f *Faulty) LimitCount(ctx context.Context, key string, now time.Time) (int, time.Duration, error) {
	if err := f.fault("LimitCount"); err != nil {
		return 0, 0, err
	}
	return f.Storage.LimitCount(ctx, key, now)
}

func (f *Faulty) LimitClear(ctx context.Context, key string) error {
	if err := f.fault("LimitClear"); err != nil {
		return err
	}
	return f.Storage.LimitClear(ctx, key)
}

func (f *Faulty) LimitAllow(ctx context.Context, key string, n int, window time.Duration, now time.Time) (bool, time.Duration, error) {
	if err := f.fault("LimitAllow"); err != nil {
		return false, 0, err
	}
	return f.Storage.LimitAllow(ctx, key, n, window, now)
}
