// Package errs is authd's one error type for what a client is told.
//
// Every domain package (account, oauth, session, token) returns *Error for
// a failure the caller should see: its Kind says what went wrong in terms
// each HTTP surface maps to a status (OAuth JSON, account JSON, the
// Django-era DRF shapes, the HTML pages); Code is the OAuth error code
// (RFC 6749 §5.2, RFC 6750 §3.1) that the OAuth and account surfaces send;
// Fields name the request fields at fault; Reason refines a few kinds so
// that a surface can choose its own wording without reading Description.
// Cause is kept for the log and never sent.
//
// Anything that is not an *Error is unexpected: surfaces log it and answer
// a generic 500.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the class of a failure, which decides the HTTP status.
type Kind int

// Kinds, with the status every surface answers them with.
const (
	// Invalid: the request is malformed or a value is wrong (400).
	Invalid Kind = iota + 1
	// Unauthenticated: missing or bad client credentials or access token
	// (401, with a challenge).
	Unauthenticated
	// Forbidden: authenticated, but not allowed this (403).
	Forbidden
	// NotFound: no such thing, or not the caller's (404).
	NotFound
	// Conflict: a unique value is taken (409).
	Conflict
	// TooLarge: the request body is over the limit (413).
	TooLarge
	// UnsupportedMedia: the body's content type is not accepted (415).
	UnsupportedMedia
	// TooMany: the caller must wait RetryAfter (429).
	TooMany
	// Unavailable: retryable; storage failed or the password hashing queue
	// is full (503 with Retry-After).
	Unavailable
)

// Status is the HTTP status every surface answers the kind with (RFC 9110
// §15); 500 for a kind it does not know.
func (k Kind) Status() int {
	switch k {
	case Invalid:
		return 400
	case Unauthenticated:
		return 401
	case Forbidden:
		return 403
	case NotFound:
		return 404
	case Conflict:
		return 409
	case TooLarge:
		return 413
	case UnsupportedMedia:
		return 415
	case TooMany:
		return 429
	case Unavailable:
		return 503
	}
	return 500
}

// Reason refines an error for surfaces that word it their own way.
type Reason string

// Reasons.
const (
	ReasonNone Reason = ""
	// Access tokens (Code invalid_token).
	ReasonTokenMissing Reason = "token_missing"
	ReasonTokenExpired Reason = "token_expired"
	ReasonTokenRevoked Reason = "token_revoked"
	ReasonTokenInvalid Reason = "token_invalid"
	// ReasonTokenNotAllowed: a valid token this surface does not accept
	// (wrong scope or client).
	ReasonTokenNotAllowed Reason = "token_not_allowed"
	// ReasonBadCredentials: unknown user, wrong password or disabled user,
	// all alike.
	ReasonBadCredentials Reason = "bad_credentials"
	// ReasonLoginThrottled: failed logins made the account or address wait.
	ReasonLoginThrottled Reason = "login_throttled"
	// ReasonBusy: no password-hashing slot was free in time.
	ReasonBusy Reason = "busy"
	// ReasonStorage: the database failed.
	ReasonStorage Reason = "storage"
	// ReasonBadLink: a reset or verification token is invalid, used or
	// expired.
	ReasonBadLink Reason = "bad_link"
	// ReasonPasswordMismatch: a re-entered password differs.
	ReasonPasswordMismatch Reason = "password_mismatch"
)

// Error is a failure to tell the client about.
type Error struct {
	Kind Kind
	// Code is the OAuth error code, e.g. "invalid_grant".
	Code string
	// Description is safe to send: it never holds a secret or the value
	// the client sent.
	Description string
	// Fields maps a request field to what is wrong with it, a predicate
	// such as "is too short".
	Fields map[string]string
	// FieldCodes maps a field to a machine-readable problem where a
	// surface words it differently (e.g. "required", "too_common").
	FieldCodes map[string]string
	Reason     Reason
	// Scope is the scope the request needs (insufficient_scope).
	Scope string
	// RetryAfter is how long to wait (TooMany, Unavailable).
	RetryAfter time.Duration
	// Cause is logged, never sent.
	Cause error
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Description
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// RetrySeconds is RetryAfter in whole seconds, rounded up, for a
// Retry-After header; 0 when none.
func (e *Error) RetrySeconds() int {
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}

// As returns err as an *Error when it is one.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// ReasonOf is the Reason of err, or ReasonNone.
func ReasonOf(err error) Reason {
	if e, ok := As(err); ok {
		return e.Reason
	}
	return ReasonNone
}

// OAuth is a 400 with an OAuth error code (RFC 6749 §5.2).
func OAuth(code, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: code, Description: fmt.Sprintf(format, args...)}
}

// New is an error of any kind.
func New(kind Kind, code, description string) *Error {
	return &Error{Kind: kind, Code: code, Description: description}
}

// InvalidFields is a 400 naming the fields at fault.
func InvalidFields(fields map[string]string) *Error {
	return &Error{Kind: Invalid, Code: "invalid_request", Description: "some fields are invalid", Fields: fields}
}

// Field is InvalidFields for one field.
func Field(name, problem string) *Error {
	return InvalidFields(map[string]string{name: problem})
}

// Storage is what a storage failure looks like to a client: a retryable
// 503, never a success and never a detail.
func Storage(cause error) *Error {
	return &Error{Kind: Unavailable, Code: "temporarily_unavailable", Description: "the server could not complete the request; try again",
		Reason: ReasonStorage, RetryAfter: time.Second, Cause: cause}
}

// Busy answers a request that found no free password-hashing slot.
func Busy(cause error) *Error {
	return &Error{Kind: Unavailable, Code: "temporarily_unavailable", Description: "too many logins at once; try again shortly",
		Reason: ReasonBusy, RetryAfter: time.Second, Cause: cause}
}

// TooManyRequests makes the caller wait; what says what there were too
// many of ("failed logins").
func TooManyRequests(wait time.Duration, what string) *Error {
	return &Error{Kind: TooMany, Code: "too_many_requests", Description: "too many " + what + "; try again later", RetryAfter: wait}
}

// InvalidClient is RFC 6749 §5.2 invalid_client (401).
func InvalidClient(description string) *Error {
	return &Error{Kind: Unauthenticated, Code: "invalid_client", Description: description}
}

// InvalidToken is RFC 6750 §3.1 invalid_token (401) for an access token.
func InvalidToken(reason Reason, description string) *Error {
	return &Error{Kind: Unauthenticated, Code: "invalid_token", Description: description, Reason: reason}
}

// InsufficientScope is RFC 6750 §3.1 insufficient_scope (403); scope is
// the scope the request needs.
func InsufficientScope(scope, description string) *Error {
	return &Error{Kind: Forbidden, Code: "insufficient_scope", Description: description, Reason: ReasonTokenNotAllowed, Scope: scope}
}
