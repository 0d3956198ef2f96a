package users

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authd/authd/storage"
)

// ConflictRecord names a record of a dump: its position and what an
// operator finds it by.
type ConflictRecord struct {
	// Index is the 0-based position of the record in the dump's array.
	Index int
	// PK is the record's pk, 0 when it has none.
	PK       int64
	Username string
}

func (r ConflictRecord) String() string {
	return fmt.Sprintf("record %d (%s)", r.Index, r.label())
}

// label is the record's pk and username.
func (r ConflictRecord) label() string {
	if r.PK == 0 {
		return fmt.Sprintf("no pk, username %q", r.Username)
	}
	return fmt.Sprintf("pk %d, username %q", r.PK, r.Username)
}

// Conflict is two records of one dump that authd cannot both hold.
type Conflict struct {
	// Field is the key they share: "username" (the same by
	// storage.UsernameKey: they differ at most in case, width or
	// compatibility forms, which Django tells apart and authd does not),
	// "email" (the same by storage.EmailKey; Django does not make emails
	// unique) or "pk".
	Field string
	// First is the earlier record, Second the later one.
	First, Second ConflictRecord
}

func (c Conflict) String() string {
	var what string
	switch c.Field {
	case "username":
		what = "usernames that are one name to authd (they differ at most in case or width)"
		if c.First.Username == c.Second.Username {
			what = "the same username"
		}
	case "email":
		what = "the same email address, ignoring case"
	case "pk":
		what = "the same pk"
	default:
		what = "the same " + c.Field
	}
	return fmt.Sprintf("%s and %s have %s", c.First, c.Second, what)
}

// ConflictError is a dump whose records cannot all be imported together.
// Nothing of the dump is imported then: rename, merge or remove records in
// Django and dump again.
type ConflictError struct {
	// Conflicts lists every pair found, by Second's index and then First's.
	Conflicts []Conflict
}

// maxConflictsShown bounds the conflicts an error message lists.
const maxConflictsShown = 10

func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "users: django dump: %d conflict(s), nothing imported: ", len(e.Conflicts))
	for i, c := range e.Conflicts {
		if i == maxConflictsShown {
			fmt.Fprintf(&b, "; and %d more", len(e.Conflicts)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.String())
	}
	return b.String()
}

// CheckDjangoConflicts finds the records of a dump that authd cannot hold
// together: the same username by storage.UsernameKey ("Mike" and "mike",
// "straße" and "STRASSE"), the same email by storage.EmailKey, or the same
// pk. Each later record is paired with the first record holding its key.
// It returns a *ConflictError listing them all, or nil.
func CheckDjangoConflicts(dump []DjangoUser) error {
	type seen map[string]ConflictRecord
	byKey := map[string]seen{"username": {}, "email": {}, "pk": {}}
	var conflicts []Conflict
	for i, u := range dump {
		rec := ConflictRecord{Index: i, PK: u.PK, Username: u.Username}
		for _, k := range []struct{ field, key string }{
			{"username", storage.UsernameKey(u.Username)},
			{"email", storage.EmailKey(u.Email)},
			{"pk", pkKey(u.PK)},
		} {
			if k.key == "" {
				continue
			}
			if first, ok := byKey[k.field][k.key]; ok {
				conflicts = append(conflicts, Conflict{Field: k.field, First: first, Second: rec})
				continue
			}
			byKey[k.field][k.key] = rec
		}
	}
	if len(conflicts) > 0 {
		return &ConflictError{Conflicts: conflicts}
	}
	return nil
}

// pkKey is the key under which pks are unique; "" for no pk.
func pkKey(pk int64) string {
	if pk == 0 {
		return ""
	}
	return fmt.Sprint(pk)
}

// ImportResult is what ImportDjango did.
type ImportResult struct {
	// Imported counts the users written.
	Imported int
	// Skipped are the usernames of the dump that the store already holds
	// (by storage.UsernameKey); those records were left out.
	Skipped []string
	// Unusable counts the imported users without a usable password: they
	// log in only after a reset or `authd users set-password`.
	Unusable int
}

// ImportDjango writes the users of a parsed Django dump to store, in one
// atomic storage.UserStore.ImportUsers: each keeps its Django pk (or is
// numbered after the highest pk when it has none), its password hash, its
// names and date_joined (its CreatedAt; now when Django had none), and is
// disabled when Django marked it inactive. A user whose username the store
// already holds is skipped. It first runs CheckDjangoConflicts, and
// refuses with its *ConflictError. A record whose email or pk another
// user of the store already holds aborts the import, nothing written, with
// an *ImportError naming the record and that user.
func ImportDjango(ctx context.Context, store storage.UserStore, dump []DjangoUser, now time.Time) (ImportResult, error) {
	if err := CheckDjangoConflicts(dump); err != nil {
		return ImportResult{}, err
	}
	list := make([]storage.User, len(dump))
	for i, r := range dump {
		created := r.DateJoined
		if created.IsZero() {
			created = now
		}
		list[i] = storage.User{
			ID:            NewID(),
			PK:            r.PK,
			Username:      r.Username,
			Email:         r.Email,
			EmailVerified: false, // Django's auth.user does not record it
			PasswordHash:  r.PasswordHash,
			FirstName:     r.FirstName,
			LastName:      r.LastName,
			Disabled:      !r.IsActive,
			CreatedAt:     created,
			UpdatedAt:     now,
		}
	}
	skipped, err := store.ImportUsers(ctx, list)
	if err != nil {
		return ImportResult{}, importFailure(ctx, store, dump, err)
	}
	res := ImportResult{Imported: len(list) - len(skipped), Skipped: skipped}
	taken := make(map[string]bool, len(skipped))
	for _, name := range skipped {
		taken[name] = true
	}
	for _, r := range dump {
		if r.UnusablePassword && !taken[r.Username] {
			res.Unusable++
		}
	}
	return res, nil
}

// importFailure words a failed ImportUsers for the operator: which record,
// and which user of the store holds the key it wanted.
func importFailure(ctx context.Context, store storage.UserStore, dump []DjangoUser, err error) error {
	var se *storage.ImportError
	if !errors.As(err, &se) || se.Index < 0 || se.Index >= len(dump) {
		return fmt.Errorf("users: django dump: %w", err)
	}
	r := dump[se.Index]
	rec := ConflictRecord{Index: se.Index, PK: r.PK, Username: r.Username}
	var (
		holder storage.User
		lookup error
		reason string
	)
	switch se.Key {
	case "email":
		holder, lookup = store.GetUserByEmail(ctx, r.Email)
		reason = "its email address (ignoring case) is already the address of"
	case "pk":
		holder, lookup = store.GetUserByPK(ctx, r.PK)
		reason = fmt.Sprintf("its pk %d already belongs to", r.PK)
	case "id":
		// Two random 128-bit ids collided: running the import again
		// draws new ones.
		return &ImportError{Index: se.Index, Reason: rec.label() + ": the new user id is taken; run the import again", Err: err}
	default:
		return &ImportError{Index: se.Index, Reason: rec.label() + ": " + se.Err.Error(), Err: err}
	}
	who := "another user"
	if lookup == nil {
		who = fmt.Sprintf("user %q (pk %d)", holder.Username, holder.PK)
	}
	return &ImportError{Index: se.Index, Reason: fmt.Sprintf("%s: %s %s", rec.label(), reason, who), Err: err}
}
