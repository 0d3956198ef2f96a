package account

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/users"
)

// What operators (the admin API, the CLI) do to accounts. Every method
// takes by, who does it, for the audit log.

// Page sizes of ListUsers.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// UserPage is one page of ListUsers.
type UserPage struct {
	Users []storage.User
	// Next is the cursor of the next page; "" on the last one.
	Next string
}

// ListUsers lists users in a stable order (by pk), limit at a time (0:
// DefaultPageSize), after cursor ("" from the start, else a Next of an
// earlier page), keeping those whose username or email starts with prefix
// (compared as the stored keys are: case-folded).
func (s *Service) ListUsers(ctx context.Context, prefix, cursor string, limit int) (UserPage, error) {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return UserPage{}, errs.Field("limit", fmt.Sprintf("must be from 1 to %d", MaxPageSize))
	}
	after, ok := parseCursor(cursor)
	if !ok {
		return UserPage{}, errs.Field("cursor", "is not a cursor of this list")
	}
	if users.HasControl(prefix) || len(prefix) > 256 {
		return UserPage{}, errs.Field("q", "must be at most 256 characters without control characters")
	}
	// One more than asked tells whether a next page exists.
	list, err := s.store.ListUsers(ctx, storage.UserQuery{Prefix: prefix, AfterPK: after, Limit: limit + 1})
	if err != nil {
		return UserPage{}, errs.Storage(err)
	}
	page := UserPage{Users: list}
	if len(list) > limit {
		page.Users = list[:limit]
		page.Next = makeCursor(page.Users[limit-1].PK)
	}
	return page, nil
}

// makeCursor is the opaque cursor of the page after the user with this pk.
func makeCursor(pk int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("pk:" + strconv.FormatInt(pk, 10)))
}

// parseCursor reads a cursor of makeCursor; "" is the start.
func parseCursor(c string) (int64, bool) {
	if c == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 4 || string(b[:3]) != "pk:" {
		return 0, false
	}
	pk, err := strconv.ParseInt(string(b[3:]), 10, 64)
	return pk, err == nil && pk >= 0
}

// errNoUser answers an unknown user id.
var errNoUser = errs.New(errs.NotFound, "not_found", "no such user")

// UserByID finds a user by id for an operator.
func (s *Service) UserByID(ctx context.Context, id string) (storage.User, error) {
	u, err := s.store.GetUser(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, errNoUser
	case err != nil:
		return storage.User{}, errs.Storage(err)
	}
	return u, nil
}

// AdminPatch is what an operator may change of a user's profile; nil
// fields stay as they are. Unlike ProfilePatch it needs no current
// password, and it can mark the email verified (the operator vouches for
// it). The password and the disabled flag have methods of their own.
type AdminPatch struct {
	Username      *string
	Email         *string
	FirstName     *string
	LastName      *string
	EmailVerified *bool
}

// AdminUpdate changes a user's profile for an operator. A new email is
// unverified, and gets a verification mail, unless the same patch sets
// EmailVerified.
func (s *Service) AdminUpdate(ctx context.Context, id string, p AdminPatch, by string) (storage.User, error) {
	cur, err := s.UserByID(ctx, id)
	if err != nil {
		return storage.User{}, err
	}
	if err := normalizePatch(cur, p.Username, p.Email, p.FirstName, p.LastName); err != nil {
		return storage.User{}, err
	}
	var nameChanged, emailChanged bool
	u, err := s.store.UpdateUser(ctx, id, s.now(), func(u *storage.User) error {
		if p.Username != nil && *p.Username != u.Username {
			u.Username, nameChanged = *p.Username, true
		}
		if p.Email != nil && storage.EmailKey(*p.Email) != storage.EmailKey(u.Email) {
			u.Email, u.EmailVerified, emailChanged = *p.Email, false, true
		} else if p.Email != nil {
			u.Email = *p.Email // the same address, perhaps in another case
		}
		if p.FirstName != nil {
			u.FirstName = *p.FirstName
		}
		if p.LastName != nil {
			u.LastName = *p.LastName
		}
		if p.EmailVerified != nil {
			u.EmailVerified = *p.EmailVerified && u.Email != ""
		}
		return nil
	})
	switch {
	case errors.Is(err, storage.ErrAlreadyExists):
		var name, email string
		if p.Username != nil {
			name = *p.Username
		}
		if p.Email != nil {
			email = *p.Email
		}
		return storage.User{}, s.takenError(ctx, name, email)
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, errNoUser
	case err != nil:
		return storage.User{}, errs.Storage(err)
	}
	s.audit.Event(ctx, "user.updated", "user_id", u.ID, "by", by)
	if nameChanged {
		s.audit.Event(ctx, "username.changed", "user_id", u.ID, "by", by)
	}
	if emailChanged {
		s.audit.Event(ctx, "email.changed", "user_id", u.ID, "by", by)
		if u.Email != "" && !u.EmailVerified {
			s.sendVerification(ctx, u)
		}
	}
	return u, nil
}

// Delete erases a user for an operator: the account, its sessions,
// refresh tokens, authorization codes and one-time tokens, in one
// transaction. The sessions that were live end at once in this process's
// view; other processes refuse the user's access tokens wherever they load
// the user (the account API, userinfo), which no longer exists. The audit
// line names the user by id only.
func (s *Service) Delete(ctx context.Context, u storage.User, by string) error {
	now := s.now()
	live, err := s.store.DeleteUser(ctx, u.ID, now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return errNoUser
	case err != nil:
		return errs.Storage(err)
	}
	s.sessions.Ended(ctx, u.ID, "user_deleted", live, now)
	s.audit.Event(ctx, "user.deleted", "user_id", u.ID, "by", by)
	return nil
}

// AdminEndSession ends one session of a user for an operator; a session
// that is not the user's, does not exist or has ended is "not found".
func (s *Service) AdminEndSession(ctx context.Context, userID, sid, by string) error {
	if err := s.EndSession(ctx, userID, sid, "ended_by_operator"); err != nil {
		return err
	}
	s.audit.Event(ctx, "user.sessions_ended", "user_id", userID, "session_id", sid, "by", by)
	return nil
}

// AdminEndSessions ends every session of a user for an operator and
// returns how many were live.
func (s *Service) AdminEndSessions(ctx context.Context, userID, by string) (int, error) {
	now := s.now()
	ids, err := s.store.EndUserSessions(ctx, userID, "", now)
	if err != nil {
		return 0, errs.Storage(err)
	}
	s.sessions.Ended(ctx, userID, "ended_by_operator", ids, now)
	s.audit.Event(ctx, "user.sessions_ended", "user_id", userID, "count", len(ids), "by", by)
	return len(ids), nil
}
