package compat

import (
	"encoding/json"
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Render(tt.err, tt.renames)
			body, _ := json.Marshal(p.Body)
			if p.Status != tt.status || string(body) != tt.body || p.RetryAfter != tt.retryAfter || (p.Challenge != "") != tt.challenge {
				t.Errorf("Render = %d %s retry %d challenge %q; want %d %s retry %d challenge %v",
					p.Status, body, p.RetryAfter, p.Challenge, tt.status, tt.body, tt.retryAfter, tt.challenge)
			}
		})
	}
}
