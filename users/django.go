package users

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/password"
)

// MaxDumpSize is the largest Django dump ParseDjangoDump reads: 64 MiB, some
// 100,000 users.
const MaxDumpSize = 64 << 20

// ErrDumpTooLarge means the dump is larger than MaxDumpSize.
var ErrDumpTooLarge = errors.New("users: django dump larger than 64 MiB")

// DjangoUser is one user of a Django dump, checked by this package's rules.
type DjangoUser struct {
	// PK is the record's pk, Django's auth_user.id, kept as the user's pk
	// in authd; 0 when the dump has none (dumpdata --natural-primary),
	// and authd numbers the user.
	PK int64
	// Username is in NFC (NormalizeExistingUsername).
	Username string
	// Email is "" or a valid address (NormalizeEmail).
	Email string
	// PasswordHash is Django's hash, in a format password.Hasher verifies
	// (and upgrades at the next login), or "" when the user had an unusable
	// password.
	PasswordHash string
	FirstName    string
	LastName     string
	// IsActive false means Django refused the user's logins; import it as
	// disabled.
	IsActive bool
	// DateJoined is in UTC.
	DateJoined time.Time
	// UnusablePassword reports that Django held an unusable password ("!…",
	// from set_unusable_password) or none: PasswordHash is "" and the user
	// cannot log in with a password until one is set (by a reset or
	// `authd users set-password`). The import command should say how many.
	UnusablePassword bool
}

// ImportError is a record of the dump that cannot be imported; nothing of
// the dump is imported then.
type ImportError struct {
	// Index is the 0-based position of the record in the dump's array.
	Index int
	// Reason says what is wrong, without repeating values (a password hash
	// could be in them).
	Reason string
	// Err is the cause, when there is one: a *FieldError,
	// password.ErrUnknownFormat, a JSON error.
	Err error
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("users: django dump: record %d: %s", e.Index, e.Reason)
}

// Unwrap returns the cause.
func (e *ImportError) Unwrap() error { return e.Err }

// djangoRecord is one element of `manage.py dumpdata` output.
type djangoRecord struct {
	Model  string          `json:"model"`
	PK     json.RawMessage `json:"pk"`
	Fields json.RawMessage `json:"fields"`
}

// djangoFields are the auth.user fields read; pointers tell a missing or
// null field from an empty one. Others (is_staff, is_superuser,
// last_login, groups, user_permissions) are ignored.
type djangoFields struct {
	Username   *string `json:"username"`
	Email      *string `json:"email"`
	Password   *string `json:"password"`
	FirstName  *string `json:"first_name"`
	LastName   *string `json:"last_name"`
	IsActive   *bool   `json:"is_active"`
	DateJoined *string `json:"date_joined"`
}

// ParseDjangoDump reads the JSON written by `python manage.py dumpdata
// auth.user`: an array of {"model": "auth.user", "pk": N, "fields": {…}}. It
// returns every user, or the first problem: an *ImportError naming the
// record for a record that is not auth.user, lacks a field or has one of
// the wrong JSON type, has a pk that is not a positive integer, breaks a
// field rule of this package, or holds a password hash in a format authd
// cannot verify (see password.ValidateHash); ErrDumpTooLarge past
// MaxDumpSize; another error when the input is not a JSON array. When
// every record is fine on its own but some cannot be imported together
// (see CheckDjangoConflicts), it returns a *ConflictError naming all of
// them.
func ParseDjangoDump(r io.Reader) ([]DjangoUser, error) {
	return parseDjangoDump(r, MaxDumpSize)
}

func parseDjangoDump(r io.Reader, max int64) ([]DjangoUser, error) {
	dec := json.NewDecoder(&capReader{r: r, left: max})
	tok, err := dec.Token()
	if err != nil {
		return nil, dumpErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, errors.New("users: django dump: not a JSON array")
	}
	var out []DjangoUser
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, ErrDumpTooLarge) {
				return nil, dumpErr(err)
			}
			return nil, &ImportError{Index: i, Reason: "invalid JSON: " + err.Error(), Err: err}
		}
		u, err := parseDjangoRecord(raw)
		if err != nil {
			err.Index = i
			return nil, err
		}
		out = append(out, u)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, dumpErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if errors.Is(err, ErrDumpTooLarge) {
			return nil, dumpErr(err)
		}
		return nil, errors.New("users: django dump: data after the array")
	}
	if err := CheckDjangoConflicts(out); err != nil {
		return nil, err
	}
	return out, nil
}

func dumpErr(err error) error {
	if errors.Is(err, ErrDumpTooLarge) {
		return err
	}
	return fmt.Errorf("users: django dump: %w", err)
}

// parseDjangoRecord checks one record; the caller sets the error's Index.
func parseDjangoRecord(raw json.RawMessage) (DjangoUser, *ImportError) {
	fail := func(err error, format string, args ...any) (DjangoUser, *ImportError) {
		return DjangoUser{}, &ImportError{Reason: fmt.Sprintf(format, args...), Err: err}
	}
	var rec djangoRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return fail(err, "not a dumpdata record: %s", jsonReason(err))
	}
	if rec.Model != "auth.user" {
		m := rec.Model
		if len(m) > 40 {
			m = m[:40] + "…"
		}
		return fail(nil, "model is %q, want \"auth.user\"", m)
	}
	if len(rec.Fields) == 0 || string(rec.Fields) == "null" {
		return fail(nil, "no fields")
	}
	var f djangoFields
	if err := json.Unmarshal(rec.Fields, &f); err != nil {
		return fail(err, "%s", jsonReason(err))
	}
	for _, c := range []struct {
		name    string
		missing bool
	}{
		{"username", f.Username == nil},
		{"email", f.Email == nil},
		{"password", f.Password == nil},
		{"first_name", f.FirstName == nil},
		{"last_name", f.LastName == nil},
		{"is_active", f.IsActive == nil},
		{"date_joined", f.DateJoined == nil},
	} {
		if c.missing {
			return fail(nil, "field %s is missing or null", c.name)
		}
	}
	var u DjangoUser
	var err error
	if u.PK, err = parseDjangoPK(rec.PK); err != nil {
		return fail(err, "field pk: %v", err)
	}
	if u.Username, err = NormalizeExistingUsername(*f.Username); err != nil {
		return fail(err, "%s", fieldReason(err))
	}
	if u.Email, err = NormalizeEmail(*f.Email); err != nil {
		return fail(err, "%s", fieldReason(err))
	}
	if u.FirstName, err = NormalizeName("first_name", *f.FirstName); err != nil {
		return fail(err, "%s", fieldReason(err))
	}
	if u.LastName, err = NormalizeName("last_name", *f.LastName); err != nil {
		return fail(err, "%s", fieldReason(err))
	}
	switch err := password.ValidateHash(*f.Password); {
	case errors.Is(err, password.ErrNoPassword):
		u.UnusablePassword = true
	case err != nil:
		// The error names the format, never the hash.
		return fail(err, "field password: %s", strings.TrimPrefix(err.Error(), "password: "))
	default:
		u.PasswordHash = *f.Password
	}
	u.IsActive = *f.IsActive
	if u.DateJoined, err = parseDjangoTime(*f.DateJoined); err != nil {
		return fail(err, "field date_joined: %v", err)
	}
	return u, nil
}

// parseDjangoPK reads a record's pk: a positive JSON integer, or 0 when the
// record has none (null or absent).
func parseDjangoPK(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	pk, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || pk < 1 {
		return 0, errors.New("want a positive integer")
	}
	return pk, nil
}

// fieldReason is the Reason of an ImportError for a refused field.
func fieldReason(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return "field " + fe.Field + ": " + fe.Message()
	}
	return err.Error()
}

// jsonReason describes a JSON error without the offending value.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("JSON %s where an object was expected", te.Value)
		}
		return fmt.Sprintf("field %s: want %s, got JSON %s", te.Field, jsonKind(te.Type.String()), te.Value)
	}
	return "invalid JSON: " + err.Error()
}

func jsonKind(goType string) string {
	switch goType {
	case "string", "*string":
		return "a string"
	case "bool", "*bool":
		return "a boolean"
	}
	return "an object"
}

// parseDjangoTime reads a datetime as DjangoJSONEncoder writes it: ISO 8601
// with milliseconds and "Z" (USE_TZ = True), or without a zone (USE_TZ =
// False), taken as UTC since the dump does not say which zone it meant.
func parseDjangoTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02T15:04:05.999999999", s)
	if err != nil {
		return time.Time{}, errors.New("not an ISO 8601 date and time")
	}
	return t, nil
}

// capReader reads at most left bytes of r and fails with ErrDumpTooLarge,
// from then on, when r holds more.
type capReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.exceeded {
		return 0, ErrDumpTooLarge
	}
	if c.left <= 0 {
		var one [1]byte
		n, err := io.ReadFull(c.r, one[:])
		if n > 0 {
			c.exceeded = true
			return 0, ErrDumpTooLarge
		}
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
