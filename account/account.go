// Package account is the one home of the rules about accounts: registering,
// logging in, the profile, changing, setting and resetting passwords,
// verifying email, disabling, and a user's sessions. The account API, the
// Django-era paths, the hosted pages and the CLI all call this Service, so
// every caller gets the same password policy, throttling, audit events and
// session ends. It knows nothing of HTTP: failures are *errs.Error.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/errs"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/password"
	"github.com/authd/authd/session"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
	"github.com/authd/authd/users"
)

// One-time token lifetimes.
const (
	ResetTTL  = time.Hour
	VerifyTTL = 48 * time.Hour
)

// Options are the Service's dependencies. Store, Hasher, Sessions and
// Limits are required.
type Options struct {
	Store    storage.Storage
	Hasher   *password.Hasher
	Sessions *session.Service
	Limits   *throttle.Limits
	// Mailer sends reset and verification mails; nil: none are sent.
	Mailer *mail.Mailer
	Audit  *audit.Log
	Log    *slog.Logger
	Now    func() time.Time
	// Issuer is the base of the links in mails.
	Issuer string
	// ResetMailsPerHour caps reset mails per account.
	ResetMailsPerHour int
}

// Service applies the account rules.
type Service struct {
	store    storage.Storage
	hasher   *password.Hasher
	sessions *session.Service
	limits   *throttle.Limits
	mailer   *mail.Mailer
	audit    *audit.Log
	log      *slog.Logger
	now      func() time.Time
	issuer   string
	mailCap  int
	resets   chan resetRequest
}

// New returns the account service.
func New(o Options) *Service {
	s := &Service{
		store: o.Store, hasher: o.Hasher, sessions: o.Sessions, limits: o.Limits, mailer: o.Mailer,
		audit: o.Audit, log: o.Log, now: o.Now, issuer: o.Issuer, mailCap: o.ResetMailsPerHour,
		resets: make(chan resetRequest, 256),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Hasher is the password hasher the service uses.
func (s *Service) Hasher() *password.Hasher { return s.hasher }

// Registration is what a new account is made of.
type Registration struct {
	Username  string
	Password  string
	Email     string
	FirstName string
	LastName  string
	// PK is the integer key to give the user; 0 picks the next free one.
	PK int64
}

// ProfilePatch changes a user's profile; nil fields stay as they are. It is
// the only way a client changes a user: disabled, id and email_verified are
// not in it.
type ProfilePatch struct {
	Username  *string
	Email     *string
	FirstName *string
	LastName  *string
	// CurrentPassword is required when Username or Email changes: whoever
	// holds a stolen access token or cookie must not be able to move the
	// account to an address they read, then reset its password from there,
	// nor rename it out from under its owner.
	CurrentPassword string
}

// fieldMessage is what a client is told about a rejected value (never the
// value itself).
func fieldMessage(err error) string {
	var fe *users.FieldError
	if errors.As(err, &fe) {
		return fe.Message()
	}
	return "is invalid"
}

// CheckNewPassword applies the rules for a new password: length in
// characters, no control characters, not similar to the username or email,
// not on the common-password list (NIST SP 800-63B §5.1.1.2: no composition
// rules). It returns the problem as a predicate ("is too common"), or "".
// Every caller that sets a password goes through it.
func (s *Service) CheckNewPassword(pw string, attrs ...string) string {
	if users.HasControl(pw) {
		return "must not contain control characters"
	}
	switch err := s.hasher.Validate(pw, attrs...); {
	case err == nil:
		return ""
	case errors.Is(err, password.ErrTooShort):
		return fmt.Sprintf("must be at least %d characters", s.hasher.MinLength())
	case errors.Is(err, password.ErrTooLong):
		return fmt.Sprintf("must be at most %d characters", s.hasher.MaxLength())
	case errors.Is(err, password.ErrSimilar):
		return "is too similar to the username or email"
	case errors.Is(err, password.ErrCommon):
		return "is too common"
	default:
		return "is not a valid password"
	}
}

// PasswordCode is a machine-readable name of a password problem, for
// surfaces that word it their own way (the Django-era paths).
func (s *Service) PasswordCode(pw string, attrs ...string) string {
	if users.HasControl(pw) {
		return "control"
	}
	switch err := s.hasher.Validate(pw, attrs...); {
	case err == nil:
		return ""
	case errors.Is(err, password.ErrTooShort):
		return "too_short"
	case errors.Is(err, password.ErrTooLong):
		return "too_long"
	case errors.Is(err, password.ErrSimilar):
		return "too_similar"
	case errors.Is(err, password.ErrCommon):
		return "too_common"
	default:
		return "invalid"
	}
}

// PasswordCodes names every rule a new password breaks, for surfaces that
// list them all as Django's validators do, in Django's order: similarity
// ("too_similar_username", else "too_similar_email", the attribute
// Django's message names), then "too_short", then "too_common". A
// password with a control character ("control"), too long ("too_long") or
// not UTF-8 ("invalid") has that one code. It is empty exactly when
// CheckNewPassword(pw, username, email) accepts the password.
func (s *Service) PasswordCodes(pw, username, email string) []string {
	if users.HasControl(pw) {
		return []string{"control"}
	}
	lengthErr := s.hasher.CheckLength(pw)
	switch {
	case errors.Is(lengthErr, password.ErrTooLong):
		return []string{"too_long"}
	case errors.Is(lengthErr, password.ErrInvalid):
		return []string{"invalid"}
	}
	var codes []string
	if password.SimilarTo(pw, username) {
		codes = append(codes, "too_similar_username")
	} else if password.SimilarTo(pw, email) {
		codes = append(codes, "too_similar_email")
	}
	if errors.Is(lengthErr, password.ErrTooShort) {
		codes = append(codes, "too_short")
	}
	if s.hasher.IsCommon(pw) {
		codes = append(codes, "too_common")
	}
	return codes
}

// hash hashes a new password; a full hashing queue is errs.Busy.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	h, err := s.hasher.Hash(ctx, pw)
	if errors.Is(err, password.ErrBusy) {
		return "", errs.Busy(err)
	}
	return h, err
}

// CheckRegistration applies Register's rules to the fields of a
// registration (username, email, names, password policy) without creating
// anything, for a surface that reports every problem of a request at once.
// It does not look for taken usernames or emails, which only Register, under
// its per-address limit, answers.
func (s *Service) CheckRegistration(in Registration) error {
	_, err := s.checkRegistration(in)
	return err
}

// checkRegistration validates a registration and returns it normalized.
func (s *Service) checkRegistration(in Registration) (Registration, error) {
	fields := map[string]string{}
	codes := map[string]string{}
	var err error
	out := in
	if out.Username, err = users.NormalizeUsername(in.Username); err != nil {
		fields["username"] = fieldMessage(err)
	}
	if out.Email, err = users.NormalizeEmail(in.Email); err != nil {
		fields["email"] = fieldMessage(err)
	}
	if out.FirstName, err = users.NormalizeName("first_name", in.FirstName); err != nil {
		fields["first_name"] = fieldMessage(err)
	}
	if out.LastName, err = users.NormalizeName("last_name", in.LastName); err != nil {
		fields["last_name"] = fieldMessage(err)
	}
	if msg := s.CheckNewPassword(in.Password, in.Username, in.Email); msg != "" {
		fields["password"] = msg
		codes["password"] = s.PasswordCode(in.Password, in.Username, in.Email)
	}
	if len(fields) > 0 {
		e := errs.InvalidFields(fields)
		e.FieldCodes = codes
		return Registration{}, e
	}
	return out, nil
}

// newUser validates a registration and builds the user, hash included.
func (s *Service) newUser(ctx context.Context, in Registration) (storage.User, error) {
	in, err := s.checkRegistration(in)
	if err != nil {
		return storage.User{}, err
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return storage.User{}, err
	}
	now := s.now()
	return storage.User{
		ID: users.NewID(), PK: in.PK, Username: in.Username, Email: in.Email, PasswordHash: hash,
		FirstName: in.FirstName, LastName: in.LastName, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// Register creates an account for a person at addr (rate-limited per
// address) and, when it has an email, mails a verification link.
func (s *Service) Register(ctx context.Context, in Registration, addr string) (storage.User, error) {
	if ok, wait := s.limits.Registrations.Allow(ctx, throttle.AddressKey(addr), s.now()); !ok {
		return storage.User{}, errs.TooManyRequests(wait, "registrations from this address")
	}
	u, err := s.create(ctx, in)
	if err != nil {
		return storage.User{}, err
	}
	s.audit.Event(ctx, "user.registered", "user_id", u.ID, "address", addr)
	if u.Email != "" {
		s.sendVerification(ctx, u)
	}
	return u, nil
}

// Create creates an account for an operator (the CLI, the admin API): the
// same rules as Register, without the per-address limit or a mail.
func (s *Service) Create(ctx context.Context, in Registration, by string) (storage.User, error) {
	u, err := s.create(ctx, in)
	if err != nil {
		return storage.User{}, err
	}
	s.audit.Event(ctx, "user.created", "user_id", u.ID, "by", by)
	return u, nil
}

func (s *Service) create(ctx context.Context, in Registration) (storage.User, error) {
	u, err := s.newUser(ctx, in)
	if err != nil {
		return storage.User{}, err
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return storage.User{}, s.takenError(ctx, u.Username, u.Email)
		}
		return storage.User{}, errs.Storage(err)
	}
	if cur, err := s.store.GetUser(ctx, u.ID); err == nil {
		u = cur // the pk the store assigned
	}
	return u, nil
}

// takenError says which unique value of a user is taken: 409 with the
// field. (Registration necessarily reveals that a username or email is in
// use; the per-address limit bounds how fast anyone can ask.)
func (s *Service) takenError(ctx context.Context, username, email string) error {
	fields := map[string]string{}
	if username != "" {
		if _, err := s.store.GetUserByUsername(ctx, username); err == nil {
			fields["username"] = "is already taken"
		}
	}
	if email != "" {
		if _, err := s.store.GetUserByEmail(ctx, email); err == nil {
			fields["email"] = "is already registered"
		}
	}
	if len(fields) == 0 {
		fields["username"] = "is already taken"
	}
	return &errs.Error{Kind: errs.Conflict, Code: "conflict", Description: "an account with these details exists", Fields: fields}
}

// sendVerification mails a link that verifies the user's current email.
// Failures are logged; the request that triggered it succeeds anyway. The
// mail goes to an address nobody has proven yet, so it carries no text the
// registrant chose (no name in the greeting).
func (s *Service) sendVerification(ctx context.Context, u storage.User) {
	if s.mailer == nil {
		return
	}
	tok := token.Random(32)
	now := s.now()
	err := s.store.CreateOneTimeToken(ctx, storage.OneTimeToken{
		Hash: token.Hash(tok), Purpose: storage.PurposeVerifyEmail, UserID: u.ID, Email: u.Email,
		CreatedAt: now, ExpiresAt: now.Add(VerifyTTL),
	})
	if err != nil {
		s.log.Error("verification token not stored", "user_id", u.ID, "error", err)
		return
	}
	link := s.issuer + "/email/verify?" + url.Values{"token": {tok}}.Encode()
	if err := s.mailer.Send(ctx, mail.EmailVerification, u.Email, mail.Data{Link: link, ValidFor: VerifyTTL}); err != nil {
		s.log.Error("verification mail not queued", "user_id", u.ID, "error", err)
	}
}

// CurrentUser loads the user of a verified access token; a user deleted or
// disabled since is an invalid token.
func (s *Service) CurrentUser(ctx context.Context, ac token.Access) (storage.User, error) {
	if !ac.ForUser() {
		return storage.User{}, errs.InvalidToken(errs.ReasonTokenNotAllowed, "the access token does not belong to a user")
	}
	u, err := s.store.GetUser(ctx, ac.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, errs.InvalidToken(errs.ReasonTokenRevoked, "the access token was revoked")
	case err != nil:
		return storage.User{}, errs.Storage(err)
	}
	if u.Disabled {
		return storage.User{}, errs.InvalidToken(errs.ReasonTokenRevoked, "the access token was revoked")
	}
	return u, nil
}

// UserByName finds a user by username for an operator.
func (s *Service) UserByName(ctx context.Context, username string) (storage.User, error) {
	u, err := s.store.GetUserByUsername(ctx, username)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, errs.New(errs.NotFound, "not_found", fmt.Sprintf("no user named %q", username))
	case err != nil:
		return storage.User{}, errs.Storage(err)
	}
	return u, nil
}
