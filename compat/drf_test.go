package compat

import (
	"testing"
	"time"

	"github.com/authd/authd/errs"
)

// Render words each kind of domain error as the Django-era packages do.
func TestRender(t *testing.T) {
	tests := []struct {
		name       string
		err        *errs.Error
		renames    map[string]string
		status     int
		body       string
		retryAfter int
		challenge  bool
	}{
		{"throttled", errs.TooManyRequests(90*time.Second, "x"), nil, 429, `{"detail":"Request was throttled. Expected available in 90 seconds."}`, 90, false},
		{"bad credentials", &errs.Error{Kind: errs.Invalid, Reason: errs.ReasonBadCredentials}, nil, 400, `{"non_field_errors":["Unable to log in with provided credentials."]}`, 0, false},
		{"expired token", errs.InvalidToken(errs.ReasonTokenExpired, "x"), nil, 401, `{"detail":"Signature has expired."}`, 0, true},
		{"revoked token", errs.InvalidToken(errs.ReasonTokenRevoked, "x"), nil, 401, `{"detail":"` + Revoked + `"}`, 0, true},
		{"bad token", errs.InvalidToken(errs.ReasonTokenInvalid, "x"), nil, 401, `{"detail":"Error decoding signature."}`, 0, true},
		{"field predicate renamed", errs.Field("password", "is too common"), map[string]string{"password": "password1"}, 400, `{"password1":["This password is too common."]}`, 0, false},
		{"field sentence as is", errs.Field("username", "This field may not be blank."), nil, 400, `{"username":["This field may not be blank."]}`, 0, false},
		{"username taken", &errs.Error{Kind: errs.Conflict, Fields: map[string]string{"username": "is already taken"}}, nil, 400, `{"username":["A user with that username already exists."]}`, 0, false},
		{"storage", errs.Storage(nil), nil, 503, `{"detail":"the server could not complete the request; try again"}`, 1, false},
		{"password code", withCodes(errs.Field("new_password", "must be at least 8 characters"), "new_password", CodeTooShort), map[string]string{"new_password": "new_password2"}, 400, `{"new_password2":["This password is too short. It must contain at least 8 characters."]}`, 0, false},
		{"password too long", withCodes(errs.Field("password", "must be at most 256 characters"), "password", CodeTooLong), nil, 400, `{"password":["Ensure this field has no more than 256 characters."]}`, 0, false},
		{"wrong old password", withCodes(errs.Field("old_password", "is incorrect"), "old_password", "incorrect"), nil, 400, `{"old_password":["Invalid password"]}`, 0, false},
		{"fields in the path's order", errs.InvalidFields(map[string]string{"email": "This field may not be blank.", "username": "This field may not be blank."}), nil, 400, `{"username":["This field may not be blank."],"email":["This field may not be blank."]}`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Render(tt.err, Words{Renames: tt.renames, Order: []string{"username", "email"}, MinPassword: 8, MaxPassword: 256})
			body, _ := MarshalBody(p.Body)
			if p.Status != tt.status || string(body) != tt.body || p.RetryAfter != tt.retryAfter || (p.Challenge != "") != tt.challenge {
				t.Errorf("Render = %d %s retry %d challenge %q; want %d %s retry %d challenge %v",
					p.Status, body, p.RetryAfter, p.Challenge, tt.status, tt.body, tt.retryAfter, tt.challenge)
			}
		})
	}
}

func withCodes(e *errs.Error, field, code string) *errs.Error {
	e.FieldCodes = map[string]string{field: code}
	return e
}

// Every code of a password is worded, in the order given.
func TestRenderAllPasswordProblems(t *testing.T) {
	e := withCodes(errs.Field("password", "is too common"), "password", CodeTooShort)
	p := Render(e, Words{Renames: map[string]string{"password": "password1"}, MinPassword: 8,
		Passwords: map[string][]string{"password1": {CodeTooSimilarEmail, CodeTooShort, CodeTooCommon}}})
	body, _ := MarshalBody(p.Body)
	want := `{"password1":["The password is too similar to the email address.","This password is too short. It must contain at least 8 characters.","This password is too common."]}`
	if string(body) != want {
		t.Errorf("body = %s\nwant %s", body, want)
	}
}
