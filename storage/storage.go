// Package storage defines authd's persistent state and the contract every
// backend keeps.
//
// The Storage interface is the only way the rest of authd reaches the
// database. Its behaviour is pinned by the conformance suite in
// storage/storagetest, which every backend runs; a backend that passes it can
// replace another without touching the server.
//
// Conventions every method follows:
//   - ctx comes first and cancels the operation.
//   - Times are stored with nanosecond precision and returned in UTC; a zero
//     time.Time means "not set" (NULL).
//   - Errors wrap one of the sentinel errors below where the caller can act on
//     the cause; test them with errors.Is.
//   - Every method that writes more than one row is atomic: it commits all of
//     its writes or none.
//   - Callers generate ids, token hashes and refresh-family keys; storage
//     never sees a raw refresh token, one-time token or password.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Sentinel errors. Backends wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound means the row asked for does not exist (or is no longer
	// usable, where a method says so).
	ErrNotFound = errors.New("storage: not found")
	// ErrAlreadyExists means a unique key (user id, user pk, username,
	// email, session id, token hash, kid) is already taken.
	ErrAlreadyExists = errors.New("storage: already exists")
	// ErrSpent means a refresh family already moved past the generation a
	// rotation started from, or an authorization code was already redeemed,
	// by another request.
	ErrSpent = errors.New("storage: token already spent")
	// ErrSchemaTooNew means the database was migrated by a newer authd than
	// this binary; it refuses to touch it.
	ErrSchemaTooNew = errors.New("storage: database schema is newer than this binary")
)

// Storage is the persistent state of authd.
type Storage interface {
	// Close releases the database. In-flight calls finish first.
	Close() error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error

	UserStore
	SessionStore
	RefreshFamilyStore
	KeyStore
	OneTimeTokenStore
	AuthCodeStore
	ClientStore
	LimitStore

	// RevokeJTI lists an access token's jti as revoked until exp (and
	// RevocationSkew after it). Revoking the same jti twice is not an
	// error.
	RevokeJTI(ctx context.Context, jti string, exp time.Time) error
	// RevokedJTIs returns the revoked jtis still kept at now: those with
	// now not after Exp + RevocationSkew.
	RevokedJTIs(ctx context.Context, now time.Time) ([]RevokedJTI, error)

	// DeleteExpired removes at most limit rows of each kind that can no
	// longer matter at now: sessions (with their refresh families) past
	// ExpiresAt, revoked jtis with now after Exp + RevocationSkew, one-time
	// tokens past ExpiresAt, authorization codes past ExpiresAt, and the
	// rows of LimitStore that no longer matter; and it erases the Replay
	// of refresh families past ReplayUntil. It returns how many rows it
	// deleted or erased in all: a caller keeps calling while that reaches
	// limit. Each kind is deleted in short transactions
	// of its own, so a call never holds up other writers for long; the
	// call as a whole is not atomic. A limit below 1 deletes nothing.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// UserStore holds user accounts.
type UserStore interface {
	// CreateUser inserts u. When u.PK is 0 the user gets the next free pk,
	// one more than the highest in use, decided inside the insert's
	// transaction so that concurrent calls (from any process) get distinct
	// ones; a positive u.PK is kept. ErrAlreadyExists when the id, the pk,
	// the username (by UsernameKey) or a non-empty email (by EmailKey) is
	// taken. Read the user back to learn the pk it got.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user with this id, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByPK returns the user with this integer pk, or ErrNotFound.
	GetUserByPK(ctx context.Context, pk int64) (User, error)
	// GetUserByUsername finds a user by UsernameKey(username), or ErrNotFound.
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// GetUserByEmail finds a user by EmailKey(email), or ErrNotFound.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// UpdateUser reads the user, calls fn with it and stores what fn left in
	// it, atomically. fn may change Username, Email, EmailVerified,
	// FirstName, LastName and PasswordHash; ID, PK and CreatedAt are kept
	// whatever fn does, and UpdatedAt is set to now. When the email changes (by
	// EmailKey), the user's unused PurposeReset tokens are marked used in
	// the same transaction. An error from fn aborts the
	// update and is returned as is. ErrNotFound for an unknown id;
	// ErrAlreadyExists when the new username or email is taken.
	UpdateUser(ctx context.Context, id string, now time.Time, fn func(*User) error) (User, error)
	// SetPassword stores a new password hash and, in the same transaction,
	// ends every live session of the user except keepSession (pass "" to end
	// all) as EndUserSessions does (refresh families erased, unredeemed
	// authorization codes deleted), and marks every unused one-time token
	// of purpose PurposeReset of the user as used. It returns the ids of
	// the sessions it ended. ErrNotFound for an unknown id.
	SetPassword(ctx context.Context, userID, hash, keepSession string, now time.Time) ([]string, error)
	// ChangePassword is SetPassword for a user changing their own password:
	// it applies only while the stored hash is still oldHash (the one the
	// caller verified), the user is enabled and keepSession (the caller's
	// session) is live, so a change racing a reset, a disable or the end of
	// the caller's session cannot undo it. ErrNotFound, writing nothing,
	// otherwise.
	ChangePassword(ctx context.Context, userID, oldHash, newHash, keepSession string, now time.Time) ([]string, error)
	// UpgradePasswordHash replaces the hash only if it is still oldHash (a
	// concurrent password change wins). It reports whether it replaced it.
	UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string, now time.Time) (bool, error)
	// SetDisabled sets the disabled flag. Disabling also ends every live
	// session of the user as EndUserSessions does (refresh families erased,
	// unredeemed authorization codes deleted), in the same transaction, and
	// returns the ended session ids. ErrNotFound for an unknown id.
	SetDisabled(ctx context.Context, userID string, disabled bool, now time.Time) ([]string, error)
	// ImportUsers inserts users in one transaction. A user whose username
	// is already taken (in the database or earlier in the list) is skipped
	// and its username is returned in skipped. A user with a positive PK
	// keeps it; those with PK 0 are numbered after the highest pk in the
	// database and in the list, in list order. Any other failure (an email,
	// an id or a pk taken) aborts the whole import, nothing written, with an
	// *ImportError naming the index of the user in the list.
	ImportUsers(ctx context.Context, users []User) (skipped []string, err error)
	// ListUsers returns at most q.Limit users in ascending pk order, those
	// with a pk above q.AfterPK, and with q.Prefix only those whose
	// username (by UsernameKey) or email (by EmailKey) starts with it. A
	// Limit below 1 is an error.
	ListUsers(ctx context.Context, q UserQuery) ([]User, error)
	// DeleteUser erases the user and, in the same transaction, every row
	// that belongs to them: sessions (ended or not), refresh tokens,
	// authorization codes and one-time tokens. It returns the ids of the
	// sessions that were live at now (not ended, not past ExpiresAt), so
	// the caller can record them as ended in its view: the rows are gone,
	// and EndedSessions will not report them. ErrNotFound for an unknown id.
	DeleteUser(ctx context.Context, id string, now time.Time) ([]string, error)
}

// UserQuery selects a page of users for ListUsers.
type UserQuery struct {
	// Prefix keeps the users whose UsernameKey starts with
	// UsernameKey(Prefix) or whose EmailKey starts with EmailKey(Prefix);
	// "" keeps every user.
	Prefix string
	// AfterPK keeps the users with a pk above it: 0 from the first user,
	// the last pk of the previous page for the next one.
	AfterPK int64
	// Limit is the most users returned, at least 1.
	Limit int
}

// SessionStore holds sessions. A session is one sign-in of a user at a
// client; when it has refresh tokens, it is their family (Session.Refresh).
type SessionStore interface {
	// CreateSession inserts s with its refresh family, if any.
	// ErrAlreadyExists when the id is taken.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session (ended or not), or ErrNotFound.
	GetSession(ctx context.Context, id string) (Session, error)
	// GetSessionAndUser returns the session (ended or not) and its user in
	// one read: everything the refresh grant checks. ErrNotFound when the
	// session is unknown.
	GetSessionAndUser(ctx context.Context, id string) (Session, User, error)
	// ListSessions returns the user's sessions that are neither ended nor
	// past ExpiresAt at now, newest first.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// EndSession ends the session and erases its refresh family (Refresh
	// becomes nil), atomically. Ending an ended session is not an error
	// (EndedAt keeps its first value). ErrNotFound for an unknown id.
	EndSession(ctx context.Context, id string, now time.Time) error
	// EndUserSessions ends every live session of the user except keep (""
	// for none), erases their refresh families and deletes the user's
	// unredeemed authorization codes except those issued by the sign-in
	// session keep, atomically, and returns the ids it ended.
	EndUserSessions(ctx context.Context, userID, keep string, now time.Time) ([]string, error)
	// EndedSessions returns the id and EndedAt of every session that ended
	// after since, for the in-memory view of dead sessions that access-token
	// checks consult.
	EndedSessions(ctx context.Context, since time.Time) ([]EndedSession, error)
}

// RefreshFamilyStore rotates the refresh families held in sessions.
type RefreshFamilyStore interface {
	// RotateRefresh moves the live session's family from generation
	// fromGen to fromGen+1, in one conditional write: it stores next.Hash
	// as the current hash, next.ExpiresAt, and next.Replay until
	// next.ReplayUntil as the replay of generation fromGen (replacing the
	// replay of any earlier rotation), and sets the session's LastUsedAt to
	// now. Exactly one of any number of concurrent calls from the same
	// generation succeeds; the others get ErrSpent, as does any call once
	// the family is past fromGen.
	//
	// next.Key is stored only when the family has no key (a family
	// migrated from the previous token format, at generation 0); such a
	// family must be given one, and its legacy token (LegacyRefreshSession)
	// is deleted in the same transaction. A key given for a family that
	// has one is ignored: a family keeps its key for life.
	//
	// It fails with ErrNotFound, writing nothing, when the session is
	// unknown, ended, or has no refresh family. It does not check
	// lifetimes: the caller does.
	RotateRefresh(ctx context.Context, sid string, fromGen uint64, next RefreshRotation, now time.Time) error
	// LegacyRefreshSession returns the session of a live refresh token of
	// the format before the current one, by the hex SHA-256 of the token;
	// ErrNotFound when there is none. Only tokens that were live when the
	// database was upgraded are found, and each only until its family
	// rotates or ends.
	LegacyRefreshSession(ctx context.Context, hash string) (string, error)
}

// KeyStore holds signing keys.
type KeyStore interface {
	// ListKeys returns every key, in no promised order.
	ListKeys(ctx context.Context) ([]Key, error)
	// UpdateKeys is a compare-and-swap on the whole key set: inside one
	// write transaction it reads the current keys, calls fn with them, and
	// replaces the set with what fn returns (keys missing from the result
	// are deleted, others inserted or updated by ID). Concurrent callers,
	// in this process or another on the same database, are serialised: each
	// fn sees the set the previous one committed. An error from fn aborts
	// with nothing written and is returned as is. The result may hold at
	// most one key in state KeyActive; more fails with an error.
	UpdateKeys(ctx context.Context, fn func(current []Key) ([]Key, error)) error
}

// OneTimeTokenStore holds single-use tokens sent by mail.
type OneTimeTokenStore interface {
	// CreateOneTimeToken inserts t and, in the same transaction, marks as
	// used every unused token of the same user and purpose (a newer mail
	// invalidates older links). ErrAlreadyExists when the hash is taken.
	CreateOneTimeToken(ctx context.Context, t OneTimeToken) error
	// ConsumeOneTimeToken marks the token used and returns it. It succeeds
	// once: a used, expired (ExpiresAt not after now), unknown or
	// other-purpose token gives ErrNotFound. Of concurrent calls for one
	// token exactly one succeeds.
	ConsumeOneTimeToken(ctx context.Context, hash, purpose string, now time.Time) (OneTimeToken, error)
	// GetOneTimeToken returns the token if ConsumeOneTimeToken would
	// succeed for it at now (unused, unexpired, of this purpose), without
	// spending it; ErrNotFound otherwise. Callers use it to refuse a bad
	// token before expensive work, and still consume it afterwards.
	GetOneTimeToken(ctx context.Context, hash, purpose string, now time.Time) (OneTimeToken, error)
	// CountOneTimeTokens counts the tokens of the user and purpose created
	// after since, used or not (for per-account mail rate limits).
	CountOneTimeTokens(ctx context.Context, userID, purpose string, since time.Time) (int, error)
	// ResetPassword consumes the PurposeReset token hash (as
	// ConsumeOneTimeToken) and, in the same transaction, stores the new
	// password hash, ends every live session of the user as
	// EndUserSessions does (refresh families erased, unredeemed
	// authorization codes deleted) and marks the user's other reset tokens
	// used. It
	// returns the user after the change and the ended session ids.
	// ErrNotFound, writing nothing, when the token is unusable or the
	// user's email is no longer the one the token was sent to (by EmailKey).
	ResetPassword(ctx context.Context, hash, passwordHash string, now time.Time) (User, []string, error)
	// VerifyEmail consumes the PurposeVerifyEmail token hash and, in the
	// same transaction, sets EmailVerified when the user's email is still
	// the one the token was sent to (by EmailKey). It returns the user.
	// ErrNotFound, writing nothing, when the token is unusable or the email
	// has changed since.
	VerifyEmail(ctx context.Context, hash string, now time.Time) (User, error)
}

// AuthCodeStore holds authorization codes (RFC 6749 §4.1.2), by hash.
type AuthCodeStore interface {
	// CreateAuthCode inserts c. ErrAlreadyExists when the hash is taken.
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// GetAuthCode returns the code with this hash, redeemed or not,
	// expired or not, or ErrNotFound.
	GetAuthCode(ctx context.Context, hash string) (AuthCode, error)
	// RedeemAuthCode spends the code and starts the session it pays for, in
	// one transaction: it marks the unredeemed code with this hash as
	// redeemed at now, records sess.ID as its SessionID, and inserts sess
	// with its refresh family, if any. It returns the code as redeemed. Of
	// concurrent calls for one code exactly one succeeds.
	//
	// A code already redeemed is a replay (RFC 6749 §4.1.2: "If an
	// authorization code is used more than once, the authorization server
	// MUST deny the request and SHOULD revoke (when possible) all tokens
	// previously issued based on that authorization code"): the call ends
	// the session of the earlier redemption (erasing its refresh family),
	// commits that, inserts nothing, and fails with ErrSpent, returning the
	// code (whose SessionID names the ended session). An unknown code, one
	// whose ExpiresAt is not after now, or one whose SignInSessionID names
	// a sign-in session that has ended, has passed its ExpiresAt or no
	// longer exists, gives ErrNotFound with nothing written.
	RedeemAuthCode(ctx context.Context, hash string, sess Session, now time.Time) (AuthCode, error)
}

// ClientStore holds the OAuth clients an operator registers at run time
// (the admin API, the CLI). Clients of the configuration file are not
// stored.
type ClientStore interface {
	// CreateClient inserts c. ErrAlreadyExists when the id is taken.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client with this id, or ErrNotFound.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every stored client, by id.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient reads the client, calls fn with it and stores what fn
	// left in it, atomically. ID and CreatedAt are kept whatever fn does,
	// and UpdatedAt is set to now. An error from fn aborts the update and
	// is returned as is. ErrNotFound for an unknown id.
	UpdateClient(ctx context.Context, id string, now time.Time, fn func(*Client) error) (Client, error)
	// DeleteClient deletes the client. ErrNotFound for an unknown id.
	DeleteClient(ctx context.Context, id string) error
}

// Client is an OAuth client registered at run time.
type Client struct {
	ID   string
	Name string
	// Public clients have no secret.
	Public bool
	// SecretHash is the SHA-256 of the secret (32 bytes); nil for a public
	// client. The secret itself is never stored.
	SecretHash             []byte
	Grants                 []string
	Scopes                 []string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// User is an account.
type User struct {
	// ID is opaque, random, and never reused; it is the sub of tokens.
	ID string
	// PK is the user's integer primary key, unique and positive: Django's
	// auth_user.id for an imported user, the next free number for others.
	// It never changes. 0 in a User given to CreateUser or ImportUsers
	// asks for the next free one.
	PK int64
	// Username is kept as the user chose it (after Unicode NFC); it is
	// unique by UsernameKey.
	Username string
	// Email is "" when unset; unique by EmailKey when set.
	Email         string
	EmailVerified bool
	// PasswordHash is a PHC string (argon2id) or an imported format; "" means
	// the user cannot log in with a password.
	PasswordHash string
	FirstName    string
	LastName     string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ImportError is how ImportUsers fails because of one user of its list.
// When Key is set, Err wraps ErrAlreadyExists.
type ImportError struct {
	// Index is the position of the user in the list.
	Index int
	// Key names the unique key of the user that is already taken, in the
	// database or earlier in the list: "id", "pk" or "email". It is ""
	// when the failure is something else.
	Key string
	Err error
}

func (e *ImportError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("user %d: %s already taken: %v", e.Index, e.Key, e.Err)
	}
	return fmt.Sprintf("user %d: %v", e.Index, e.Err)
}

// Unwrap returns the cause.
func (e *ImportError) Unwrap() error { return e.Err }

// Session is one sign-in: the sid of its tokens and, when it has refresh
// tokens, their family.
type Session struct {
	ID       string
	UserID   string
	ClientID string
	// Scope granted at sign-in (space-separated).
	Scope      string
	AuthTime   time.Time
	CreatedAt  time.Time
	LastUsedAt time.Time
	// ExpiresAt is the absolute end of the session (refresh_absolute_ttl).
	ExpiresAt time.Time
	// EndedAt is zero while the session lives.
	EndedAt   time.Time
	UserAgent string
	Address   string
	// Refresh is the session's refresh-token family; nil when the session
	// has no refresh tokens. EndSession, and every call that ends
	// sessions, erases it.
	Refresh *RefreshFamily
}

// EndedSession is what the in-memory view of ended sessions needs.
type EndedSession struct {
	ID      string
	EndedAt time.Time
}

// RefreshFamily is the state of a session's refresh tokens: one row of
// constant size however often the family rotates. Only the current
// generation's token can be rotated; the refresh package explains how the
// family key lets the server recognise older generations without storing
// them.
type RefreshFamily struct {
	// Generation is the number of the current token.
	Generation uint64
	// Hash is the hex SHA-256 of the random part of the current token; the
	// token itself is never stored.
	Hash string
	// Key is the family key that tags every token of the family; nil for a
	// family migrated from the previous token format, until its first
	// rotation gives it one.
	Key []byte
	// ExpiresAt is when the current token stops working unused (idle
	// lifetime, capped by the session's absolute lifetime).
	ExpiresAt time.Time
	// Replay is the sealed response of the family's last rotation, which
	// spent generation ReplayGeneration, kept until ReplayUntil to answer
	// an identical retry; nil otherwise. Storage treats it as opaque.
	Replay           []byte
	ReplayGeneration uint64
	ReplayUntil      time.Time
}

// RefreshRotation is what a rotation stores: see
// RefreshFamilyStore.RotateRefresh.
type RefreshRotation struct {
	// Hash is the hex SHA-256 of the random part of the new current token.
	Hash string
	// Key is the family key, for a family that has none yet; otherwise nil.
	Key       []byte
	ExpiresAt time.Time
	// Replay and ReplayUntil: see RefreshFamily.
	Replay      []byte
	ReplayUntil time.Time
}

// RevocationSkew is how long after its exp a revoked jti is still kept:
// verifiers may accept a token that long after its exp (clock skew), so
// its revocation must outlive it by as much.
const RevocationSkew = time.Minute

// KeyState is where a signing key is in its lifecycle.
type KeyState string

// Key states, in lifecycle order.
const (
	KeyNext    KeyState = "next"    // published, not yet signing
	KeyActive  KeyState = "active"  // signing; at most one
	KeyRetired KeyState = "retired" // published until RemoveAt, then deleted
)

// Key is a signing key.
type Key struct {
	// ID is the kid (RFC 7638 thumbprint of the public key).
	ID        string
	Algorithm string
	State     KeyState
	// Private is the private key as the keys package stores it (sealed when
	// an encryption key is configured); storage treats it as opaque.
	Private []byte
	// Public is the public JWK as JSON.
	Public      []byte
	CreatedAt   time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
	// RemoveAt is when a retired key leaves the JWKS and may be deleted.
	RemoveAt time.Time
}

// One-time token purposes.
const (
	PurposeReset       = "reset"
	PurposeVerifyEmail = "verify_email"
)

// OneTimeToken is a single-use token sent by mail, by the hash of its value.
type OneTimeToken struct {
	Hash    string
	Purpose string
	UserID  string
	// Email is the address the token was sent to (a verification token
	// verifies only that address).
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}

// AuthCode is an authorization code (RFC 6749 §4.1.2), by the hash of its
// value, with what it was issued for: the token request that redeems it
// must match the client, the redirect URI and the PKCE challenge (RFC 7636
// §4.6).
type AuthCode struct {
	// Hash is the hex SHA-256 of the code; the code itself is never stored.
	Hash        string
	ClientID    string
	UserID      string
	RedirectURI string
	// Scope granted (space-separated).
	Scope string
	// Nonce of the OIDC authentication request, for the ID token; "" when
	// none was sent.
	Nonce string
	// CodeChallenge and CodeChallengeMethod (RFC 7636 §4.3); both "" when
	// the client sent no challenge.
	CodeChallenge       string
	CodeChallengeMethod string
	// AuthTime is when the user last authenticated (the auth_time claim).
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
	// RedeemedAt is zero until the code is redeemed.
	RedeemedAt time.Time
	// SessionID is the session the redemption started; "" before it.
	SessionID string
	// SignInSessionID is the browser sign-in session that issued the code:
	// the code is redeemable only while that session lives. "" for codes
	// stored before this was recorded, which are not bound.
	SignInSessionID string
}

// RevokedJTI is an access token revoked before it expired.
type RevokedJTI struct {
	JTI string
	Exp time.Time
}

// UsernameKey is the form under which usernames are unique: Unicode NFKC
// with full case folding, so "Alice", "ALICE" and "Ａｌｉｃｅ" are one name.
func UsernameKey(username string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(username)))
}

// EmailKey is the form under which emails are unique: the whole address
// case-folded. (RFC 5321 lets the local part be case-sensitive, but no mail
// provider in use treats it so, and two accounts differing only in case are
// an account-takeover risk.)
func EmailKey(email string) string {
	if email == "" {
		return ""
	}
	return cases.Fold().String(norm.NFC.String(strings.TrimSpace(email)))
}
