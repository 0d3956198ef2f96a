package server

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
	"github.com/authd/authd/users"
)

// readForm parses an application/x-www-form-urlencoded body strictly, as
// the OAuth endpoints require (RFC 6749 §3.2: "Request and response
// parameters MUST NOT be included more than once"; parameters are sent in
// the body, not the query).
func readForm(c echo.Context) (url.Values, error) {
	r := c.Request()
	if r.Method != http.MethodPost {
		return nil, errs.OAuth("invalid_request", "use POST")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errs.OAuth("invalid_request", "the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, &errs.Error{Kind: errs.TooLarge, Code: "invalid_request", Description: "the request body is too large"}
		}
		return nil, errs.OAuth("invalid_request", "could not read the request body")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errs.OAuth("invalid_request", "the body is not valid form encoding")
	}
	return form, checkForm(form)
}

// checkForm refuses repeated parameters and parameter values that no OAuth
// parameter may hold (NUL and other control characters).
func checkForm(form url.Values) error {
	for k, vs := range form {
		if len(vs) > 1 {
			return errs.OAuth("invalid_request", "parameter %q is repeated", k)
		}
		if users.HasControl(k + vs[0]) {
			return errs.OAuth("invalid_request", "parameter %q holds a control character", k)
		}
	}
	return nil
}
