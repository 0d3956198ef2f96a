package account

import (
	"context"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/users"
)

// ImportDjango imports the users of a Django dumpdata file, keeping their
// password hashes (verified and upgraded at each user's next login), in one
// transaction: a conflict aborts it with nothing written. It returns the
// usernames skipped because they exist already.
func (s *Service) ImportDjango(ctx context.Context, recs []users.DjangoUser, by string) (imported int, skipped []string, err error) {
	now := s.now()
	list := make([]storage.User, len(recs))
	for i, r := range recs {
		created := r.DateJoined
		if created.IsZero() {
			created = now
		}
		list[i] = storage.User{
			ID:            users.NewID(),
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
	skipped, err = s.store.ImportUsers(ctx, list)
	if err != nil {
		return 0, nil, &errs.Error{Kind: errs.Invalid, Code: "invalid_request", Description: "nothing imported: " + err.Error(), Cause: err}
	}
	imported = len(list) - len(skipped)
	s.audit.Event(ctx, "users.imported", "count", imported, "skipped", len(skipped), "by", by)
	return imported, skipped, nil
}
