package compat

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/authd/authd/errs"
)

// Problem is an error in DRF's shape: {"field": ["message"]},
// {"non_field_errors": [...]} or {"detail": "..."}.
type Problem struct {
	Status     int
	Body       any
	RetryAfter int
	Challenge  string
}

func (e *Problem) Error() string { return fmt.Sprintf("drf %d: %v", e.Status, e.Body) }

// Fields is a 400 with a message per field, the fields in name order.
func Fields(fields map[string]string) *Problem {
	var fe FieldErrors
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		fe.Add(k, fields[k])
	}
	return fe.Problem()
}

// NonField is a 400 about the request as a whole.
func NonField(msg string) *Problem {
	var fe FieldErrors
	fe.Add(NonFieldErrors, msg)
	return fe.Problem()
}

// Detail is DRF's {"detail": msg}.
func Detail(status int, msg string) *Problem {
	return &Problem{Status: status, Body: map[string]string{"detail": msg}}
}

// Revoked is authd's own detail for a token ended by logout, a password
// change or a reset: djangorestframework-jwt could not end tokens, and its
// DecodeError would send people looking for a key problem.
const Revoked = "Token has been revoked (logged out or the password changed)."

// authd's own field errors for password rules Django does not have, in
// the words of Django's validators.
const (
	// PasswordControl: the password holds a control character.
	PasswordControl = "This password may not contain control characters."
	// PasswordInvalid: any other problem (a password that is not text).
	PasswordInvalid = "This password is not valid."
)

// Words is what Render needs besides the error to word it as the path
// would.
type Words struct {
	// Renames maps authd's field names to the path's own (password →
	// password1).
	Renames map[string]string
	// Order is the order of the path's fields, which field errors follow.
	Order []string
	// MinPassword and MaxPassword are the password policy's lengths, for
	// the too_short and too_long codes.
	MinPassword, MaxPassword int
	// Passwords maps a field of the path to every problem code of the
	// password it was sent (in Django's order); a field it lacks is
	// worded from its error's one code.
	Passwords map[string][]string
}

// Render words a domain error as DRF and Django would.
func Render(e *errs.Error, w Words) *Problem {
	switch {
	case e.Kind == errs.TooMany:
		return &Problem{Status: 429, RetryAfter: e.RetrySeconds(), Body: map[string]string{"detail": Throttled(e.RetrySeconds())}}
	case e.Reason == errs.ReasonBadCredentials:
		return NonField(BadLogin)
	case e.Kind == errs.Unauthenticated || e.Kind == errs.Forbidden:
		d := Detail(401, TokenMessage(e.Reason))
		d.Challenge = Challenge
		return d
	case len(e.Fields) > 0 && (e.Kind == errs.Invalid || e.Kind == errs.Conflict):
		var fe FieldErrors
		for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
			name := k
			if n, ok := w.Renames[k]; ok {
				name = n
			}
			fe.Add(name, w.fieldMessages(name, e.Fields[k], e.FieldCodes[k], e.Kind)...)
		}
		fe.Sort(w.Order)
		return fe.Problem()
	case e.Kind == errs.Invalid:
		return NonField(e.Description)
	}
	d := Detail(e.Kind.Status(), e.Description)
	d.RetryAfter = e.RetrySeconds()
	return d
}

// fieldMessages words the problem of a field: by its code when it has
// one Django words, else from authd's own message.
func (w Words) fieldMessages(field, msg, code string, kind errs.Kind) []string {
	if codes, ok := w.Passwords[field]; ok && isPasswordCode(code) && len(codes) > 0 {
		return PasswordMessages(codes, w.MinPassword, w.MaxPassword)
	}
	switch {
	case isPasswordCode(code):
		return PasswordMessages([]string{code}, w.MinPassword, w.MaxPassword)
	case code == "required":
		return []string{Required}
	case code == "incorrect":
		return []string{OldPasswordInvalid}
	}
	return []string{message(field, msg, kind)}
}

// Password problem codes (account.Service.PasswordCodes).
const (
	CodeTooSimilarUsername = "too_similar_username"
	CodeTooSimilarEmail    = "too_similar_email"
	CodeTooSimilar         = "too_similar"
	CodeTooShort           = "too_short"
	CodeTooCommon          = "too_common"
	CodeTooLong            = "too_long"
	CodeControl            = "control"
	CodeInvalidPassword    = "invalid"
)

func isPasswordCode(code string) bool {
	switch code {
	case CodeTooSimilarUsername, CodeTooSimilarEmail, CodeTooSimilar, CodeTooShort, CodeTooCommon, CodeTooLong, CodeControl, CodeInvalidPassword:
		return true
	}
	return false
}

// PasswordMessages words password problem codes as Django's password
// validators do, one message per code in the order given; min and max are
// the policy's lengths. authd's rules Django lacks are worded in DRF's
// style: too long as DRF's max_length, control characters in a sentence
// of authd's own.
func PasswordMessages(codes []string, min, max int) []string {
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		switch c {
		case CodeTooSimilarUsername, CodeTooSimilar:
			out = append(out, PasswordTooSimilarToUsername)
		case CodeTooSimilarEmail:
			out = append(out, PasswordTooSimilarToEmail)
		case CodeTooShort:
			out = append(out, PasswordTooShort(min))
		case CodeTooCommon:
			out = append(out, PasswordTooCommon)
		case CodeTooLong:
			out = append(out, MaxLength(max))
		case CodeControl:
			out = append(out, PasswordControl)
		default:
			out = append(out, PasswordInvalid)
		}
	}
	return out
}

// TokenMessage is djangorestframework-jwt's wording for a refused token,
// except that a token ended by logout says so instead of blaming the
// signature.
func TokenMessage(r errs.Reason) string {
	switch r {
	case errs.ReasonTokenExpired:
		return SignatureExpired
	case errs.ReasonTokenRevoked:
		return Revoked
	case errs.ReasonTokenMissing:
		return NotAuthenticated
	}
	return DecodeError
}

// message words a field problem as Django would.
func message(field, msg string, kind errs.Kind) string {
	if kind == errs.Conflict && field == "username" {
		return "A user with that username already exists."
	}
	if kind == errs.Conflict && field == "email" {
		return "A user is already registered with this e-mail address."
	}
	if msg != "" && msg[0] >= 'A' && msg[0] <= 'Z' {
		return msg
	}
	subject := "This field"
	if strings.Contains(field, "password") {
		subject = "This password"
	}
	return subject + " " + strings.TrimSuffix(msg, ".") + "."
}
