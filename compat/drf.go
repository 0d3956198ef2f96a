package compat

import (
	"fmt"
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

// Fields is a 400 with a message per field.
func Fields(fields map[string]string) *Problem {
	body := make(map[string][]string, len(fields))
	for k, v := range fields {
		body[k] = []string{v}
	}
	return &Problem{Status: 400, Body: body}
}

// NonField is a 400 about the request as a whole.
func NonField(msg string) *Problem {
	return &Problem{Status: 400, Body: map[string][]string{"non_field_errors": {msg}}}
}

// Detail is DRF's {"detail": msg}.
func Detail(status int, msg string) *Problem {
	return &Problem{Status: status, Body: map[string]string{"detail": msg}}
}

// Revoked is authd's own detail for a token ended by logout, a password
// change or a reset: djangorestframework-jwt could not end tokens, and its
// DecodeError would send people looking for a key problem.
const Revoked = "Token has been revoked (logged out or the password changed)."

// Render words a domain error as DRF and Django would; renames maps
// authd's field names to the path's own (password → password1).
func Render(e *errs.Error, renames map[string]string) *Problem {
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
		fields := map[string]string{}
		for k, v := range e.Fields {
			if n, ok := renames[k]; ok {
				k = n
			}
			fields[k] = message(k, v, e.Kind)
		}
		return Fields(fields)
	case e.Kind == errs.Invalid:
		return NonField(e.Description)
	}
	d := Detail(e.Kind.Status(), e.Description)
	d.RetryAfter = e.RetrySeconds()
	return d
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

// drfMessage words a field problem as Django would.
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

// MissingFields reports the missing (empty) fields in DRF's shape, nil when
// none is missing.
func MissingFields(fields map[string]string) error {
	missing := map[string]string{}
	for k, v := range fields {
		if v == "" {
			missing[k] = Required
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return Fields(missing)
}
