package account

import (
	"context"
	"errors"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/users"
)

// normalizeResetEmail checks the address of a reset request.
func normalizeResetEmail(email string) (string, error) {
	norm, err := users.NormalizeEmail(email)
	if err != nil || norm == "" {
		return "", errs.Field("email", "must be a valid email address")
	}
	return norm, nil
}

// UpdateProfile applies a patch. A new email is unverified and gets a
// verification mail. Changing the username or the email needs the current
// password and is rate-limited per user (each attempt answers whether a
// value is taken).
func (s *Service) UpdateProfile(ctx context.Context, userID string, p ProfilePatch) (storage.User, error) {
	cur, err := s.store.GetUser(ctx, userID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, errs.New(errs.NotFound, "not_found", "no such user")
	case err != nil:
		return storage.User{}, errs.Storage(err)
	}
	if err := normalizePatch(cur, p.Username, p.Email, p.FirstName, p.LastName); err != nil {
		return storage.User{}, err
	}
	newEmail := p.Email != nil && storage.EmailKey(*p.Email) != storage.EmailKey(cur.Email)
	newName := p.Username != nil && *p.Username != cur.Username
	if newEmail || newName {
		if ok, wait := s.limits.Changes.Allow(ctx, "profile:"+userID, s.now()); !ok {
			return storage.User{}, errs.TooManyRequests(wait, "changes of username or email")
		}
		why := "change the email address"
		if !newEmail {
			why = "change the username"
		}
		if err := s.checkCurrentPassword(ctx, cur, p.CurrentPassword, why); err != nil {
			return storage.User{}, err
		}
	}
	emailChanged := false
	u, err := s.store.UpdateUser(ctx, userID, s.now(), func(u *storage.User) error {
		if p.Username != nil {
			u.Username = *p.Username
		}
		if p.Email != nil && storage.EmailKey(*p.Email) != storage.EmailKey(u.Email) {
			u.Email, u.EmailVerified, emailChanged = *p.Email, false, true
		}
		if p.FirstName != nil {
			u.FirstName = *p.FirstName
		}
		if p.LastName != nil {
			u.LastName = *p.LastName
		}
		return nil
	})
	switch {
	case errors.Is(err, storage.ErrAlreadyExists):
		var name, email string
		if newName {
			name = *p.Username
		}
		if newEmail {
			email = *p.Email
		}
		return storage.User{}, s.takenError(ctx, name, email)
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, errs.New(errs.NotFound, "not_found", "no such user")
	case err != nil:
		return storage.User{}, errs.Storage(err)
	}
	if newName {
		s.audit.Event(ctx, "username.changed", "user_id", u.ID)
	}
	if emailChanged {
		s.audit.Event(ctx, "email.changed", "user_id", u.ID)
		if u.Email != "" {
			s.sendVerification(ctx, u)
		}
	}
	return u, nil
}

// normalizePatch checks and normalises, in place, the fields a profile
// change sets (nil: unchanged) for the user cur, and reports every field's
// problem at once. A username unchanged but for case or width is the
// user's own name: it is held to the rules it was made under, so a user
// whose name predates today's rules can still save the profile.
func normalizePatch(cur storage.User, username, email, first, last *string) error {
	fields := map[string]string{}
	norm := func(field string, v *string, f func(string) (string, error)) {
		if v == nil {
			return
		}
		n, err := f(*v)
		if err != nil {
			fields[field] = fieldMessage(err)
			return
		}
		*v = n
	}
	norm("username", username, func(v string) (string, error) {
		if storage.UsernameKey(v) == storage.UsernameKey(cur.Username) {
			return users.NormalizeExistingUsername(v)
		}
		return users.NormalizeUsername(v)
	})
	norm("email", email, users.NormalizeEmail)
	norm("first_name", first, func(v string) (string, error) { return users.NormalizeName("first_name", v) })
	norm("last_name", last, func(v string) (string, error) { return users.NormalizeName("last_name", v) })
	if len(fields) > 0 {
		return errs.InvalidFields(fields)
	}
	return nil
}
