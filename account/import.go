package account

import (
	"context"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/users"
)

// ImportDjango imports the users of a Django dumpdata file, keeping their
// pks and password hashes (verified and upgraded at each user's next login),
// in one transaction: a conflict within the dump or with the database aborts
// it with nothing written, naming the records. It returns how many users it
// imported and the usernames skipped because they exist already.
func (s *Service) ImportDjango(ctx context.Context, recs []users.DjangoUser, by string) (imported int, skipped []string, err error) {
	res, err := users.ImportDjango(ctx, s.store, recs, s.now())
	if err != nil {
		return 0, nil, &errs.Error{Kind: errs.Invalid, Code: "invalid_request", Description: "nothing imported: " + err.Error(), Cause: err}
	}
	s.audit.Event(ctx, "users.imported", "count", res.Imported, "skipped", len(res.Skipped), "by", by)
	return res.Imported, res.Skipped, nil
}
