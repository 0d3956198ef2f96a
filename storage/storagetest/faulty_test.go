package storagetest_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/sqlite"
	"github.com/authd/authd/storage/storagetest"
)

// callMethod calls the method of s named name with zero arguments and
// returns its results, or the panic it raised.
func callMethod(s any, name string) (out []reflect.Value, panicked any) {
	m := reflect.ValueOf(s).MethodByName(name)
	args := make([]reflect.Value, m.Type().NumIn())
	for i := range args {
		args[i] = reflect.Zero(m.Type().In(i))
	}
	defer func() { panicked = recover() }()
	return m.Call(args), nil
}

// Faulty must override every method of storage.Storage: a method promoted
// from the embedded interface would bypass the faults, so a method added
// to the interface later must get its own override here too.
func TestFaultyCoversStorage(t *testing.T) {
	iface := reflect.TypeFor[storage.Storage]()
	if iface.NumMethod() < 30 {
		t.Fatalf("storage.Storage has %d methods; the reflection below sees too few", iface.NumMethod())
	}
	errInner := errors.New("inner storage called")
	for i := range iface.NumMethod() {
		name := iface.Method(i).Name
		t.Run(name, func(t *testing.T) {
			// Failing: the injected error comes back, with zero values,
			// and the wrapped storage is not called. With nothing wrapped,
			// a method promoted from the embedded interface panics.
			f := storagetest.NewFaulty(nil)
			f.Fail(name, storagetest.ErrInjected)
			out, p := callMethod(f, name)
			if p != nil {
				t.Fatalf("%s reached the wrapped storage despite its fault: Faulty does not override it, or checks the fault of another name (%v)", name, p)
			}
			if err, _ := out[len(out)-1].Interface().(error); !errors.Is(err, storagetest.ErrInjected) {
				t.Errorf("%s with a fault returned %v, want the injected error", name, err)
			}
			for j, v := range out[:len(out)-1] {
				if !v.IsZero() {
					t.Errorf("%s with a fault: result %d is %v, want the zero value", name, j, v)
				}
			}
			if got := f.Calls(); !slices.Equal(got, []string{name}) {
				t.Errorf("%s counted as %v", name, got)
			}

			// Not failing: the call reaches the method of the same name in
			// the wrapped storage (here another Faulty that fails all).
			inner := storagetest.NewFaulty(nil)
			inner.FailAll(errInner)
			outer := storagetest.NewFaulty(inner)
			outer.Fail(otherMethod(iface, name), storagetest.ErrInjected)
			out, p = callMethod(outer, name)
			if p != nil {
				t.Fatalf("%s panicked: %v", name, p)
			}
			if err, _ := out[len(out)-1].Interface().(error); !errors.Is(err, errInner) {
				t.Errorf("%s without a fault returned %v, want the wrapped storage's answer", name, err)
			}
			if got := inner.Calls(); !slices.Equal(got, []string{name}) {
				t.Errorf("%s forwarded to %v, want %s", name, got, name)
			}
		})
	}
}

// otherMethod is a method of iface other than name.
func otherMethod(iface reflect.Type, name string) string {
	for i := range iface.NumMethod() {
		if n := iface.Method(i).Name; n != name {
			return n
		}
	}
	panic("one method only")
}

func TestFaultyFailResetAndFailAll(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "f.db"), sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := storagetest.NewFaulty(db)
	now := time.Now().UTC()
	u := storage.User{ID: "u_1", Username: "fay", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}

	f.Fail("CreateUser", storagetest.ErrInjected)
	if err := f.CreateUser(ctx, u); !errors.Is(err, storagetest.ErrInjected) {
		t.Fatalf("CreateUser = %v, want the injected fault", err)
	}
	if _, err := db.GetUser(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a failed CreateUser wrote the user (GetUser = %v)", err)
	}
	if _, err := f.GetUserByUsername(ctx, "fay"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUserByUsername = %v, want the real ErrNotFound: only CreateUser fails", err)
	}
	if f.Count("CreateUser") != 1 || f.Count("GetUserByUsername") != 1 {
		t.Errorf("calls %v", f.Calls())
	}

	f.Reset()
	if len(f.Calls()) != 0 {
		t.Errorf("Reset kept calls %v", f.Calls())
	}
	if err := f.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser after Reset: %v", err)
	}

	f.FailAll(storagetest.ErrInjected)
	mine := errors.New("mine")
	f.Fail("Ping", mine)
	if _, err := f.GetUser(ctx, u.ID); !errors.Is(err, storagetest.ErrInjected) {
		t.Errorf("GetUser under FailAll = %v", err)
	}
	if err := f.Ping(ctx); !errors.Is(err, mine) {
		t.Errorf("Ping = %v, want the fault set for it", err)
	}
	f.Reset()
	if got, err := f.GetUser(ctx, u.ID); err != nil || got.Username != "fay" {
		t.Errorf("GetUser after Reset = %+v, %v", got, err)
	}

	defer func() {
		if recover() == nil {
			t.Error("Fail with a name that is no method did not panic")
		}
	}()
	f.Fail("GetUsr", storagetest.ErrInjected)
}
