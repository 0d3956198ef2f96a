// Package httpx is the HTTP plumbing the surfaces of package server share:
// decoding JSON bodies strictly, writing uncached JSON, reading bearer
// tokens and checking their scope, and registering a route with its CORS
// preflight.
package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authd/authd/errs"
)

// DecodeJSON reads a JSON request body into dst. strict refuses fields dst
// does not have (the account API: a client must learn that "disabled" is
// not a field it can set); the Django-era paths ignore them, as Django REST
// Framework does. Every failure is an *errs.Error: 415 for another
// content type, 413 for a body over the limit, 400 naming the field for
// a value of the wrong type, 400 for malformed JSON or trailing data.
func DecodeJSON(c echo.Context, dst any, strict bool) error {
	r := c.Request()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errs.New(errs.UnsupportedMedia, "unsupported_media_type", "the body must be application/json")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return errs.New(errs.TooLarge, "request_too_large", "the request body is too large")
		}
		return errs.New(errs.Invalid, "invalid_request", "could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errs.New(errs.Invalid, "invalid_json", "the body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errs.New(errs.Invalid, "invalid_json", "unexpected data after the JSON object")
	}
	return nil
}

// jsonError turns a decoding error into a client error that names the
// field and the expected type, never echoing the value.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return errs.New(errs.Invalid, "invalid_json", "malformed JSON")
	case errors.As(err, &te):
		if te.Field == "" {
			return errs.New(errs.Invalid, "invalid_json", "the body must be a JSON object")
		}
		return errs.Field(te.Field, "must be a "+jsonKind(te.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json quotes the key with %q: unquote it, so that the
		// problem names the key as the client sent it (a key holding a tab
		// would otherwise come back spelt with a backslash and a t).
		quoted := strings.TrimPrefix(err.Error(), "json: unknown field ")
		name, uerr := strconv.Unquote(quoted)
		if uerr != nil {
			name = strings.Trim(quoted, `"`)
		}
		return errs.Field(name, "is not a field of this request")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.New(errs.Invalid, "invalid_json", "malformed JSON: the body ends early")
	default:
		return errs.New(errs.Invalid, "invalid_json", "malformed JSON")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string", "ptr":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "list"
	default:
		return "number"
	}
}
