package compat

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	"github.com/authd/authd/users"
)

// ParseBody reads a request body as DRF's default parsers do. An empty
// body is no data at all, whatever its type; otherwise the Content-Type ct
// picks the parser (JSON, form, multipart; its type and subtype compared
// without case, "*" matching any) and any other type is a 415 naming it as
// sent.
func ParseBody(ct string, body []byte) (Data, *Problem) {
	if len(body) == 0 {
		return Data{}, nil
	}
	switch {
	case mediaTypeMatches(ct, "application", "json"):
		return ParseJSON(body)
	case mediaTypeMatches(ct, "application", "x-www-form-urlencoded"):
		return ParseForm(body)
	case mediaTypeMatches(ct, "multipart", "form-data"):
		return parseMultipart(body, ct)
	}
	return Data{}, Detail(415, UnsupportedMediaType(ct))
}

// mediaTypeMatches reports whether the Content-Type ct is of a parser's
// media type as DRF compares them: type and subtype without their
// parameters, lower-cased, "*" on the request's side matching anything.
func mediaTypeMatches(ct, main, sub string) bool {
	full, _, _ := strings.Cut(ct, ";")
	m, s, _ := strings.Cut(strings.ToLower(strings.TrimSpace(full)), "/")
	return (m == "*" || m == main) && (s == "*" || s == sub)
}

// readMultipart reads a multipart/form-data body as Django does, in
// memory (the body is bounded already): a part is a file when it has a
// non-empty filename, never read, a value DRF's fields refuse; any other
// part is a field, its text read as UTF-8; a body that ends badly keeps
// the fields read so far.
func parseMultipart(body []byte, ct string) (Data, *Problem) {
	_, params, err := mime.ParseMediaType(ct)
	boundary, ok := params["boundary"]
	if err != nil || !ok || !validBoundary(boundary) {
		shown := "None"
		if ok {
			shown = boundary
		}
		return Data{}, Detail(400, MultipartParseError("Invalid boundary in multipart: "+shown))
	}
	values := map[string]Value{}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for fields := 0; ; {
		part, err := mr.NextPart()
		if err != nil {
			break // the end, or a body Django would stop reading at
		}
		_, disp, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		name := strings.TrimSpace(disp["name"])
		if name == "" {
			continue
		}
		if disp["filename"] != "" {
			values[name] = File()
			continue
		}
		if fields++; fields > MaxFormFields {
			return Data{}, Detail(400, TooManyFields)
		}
		v, err := io.ReadAll(part)
		if err != nil {
			break
		}
		values[name] = TextBytes(v)
	}
	return FormData(values), nil
}

// validBoundary is Python's cgi.valid_boundary: 1 to 201 printable ASCII
// characters, not ending in a space.
func validBoundary(b string) bool {
	if len(b) == 0 || len(b) > 201 || b[len(b)-1] == ' ' {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] < ' ' || b[i] > '~' {
			return false
		}
	}
	return true
}

// checkEmail is an EmailField's EmailValidator, with authd's rules for
// an address.
func checkEmail(v string) string {
	if _, err := users.NormalizeEmail(v); err != nil {
		if errors.Is(err, users.ErrInvalidEmail) {
			return InvalidEmail
		}
		var fe *users.FieldError
		if errors.As(err, &fe) {
			return fe.Message()
		}
		return InvalidEmail
	}
	return ""
}

// The serializers of the paths, as django-rest-auth declares them.
var (
	// RegisterFields is RegisterSerializer, with django-allauth's defaults.
	RegisterFields = Serializer{
		{Name: "username", MaxLength: users.MaxUsernameLen},
		{Name: "email", Optional: true, Check: checkEmail},
		{Name: "password1"},
		{Name: "password2"},
	}
	// LoginFields is LoginSerializer.
	LoginFields = Serializer{
		{Name: "username", Optional: true, AllowBlank: true},
		{Name: "email", Optional: true, AllowBlank: true, Check: checkEmail},
		{Name: "password"},
	}
	// UserFields are UserDetailsSerializer's writable fields, and "password": authd asks
	// for the current password to change the username.
	UserFields = Serializer{
		{Name: "username", MaxLength: users.MaxUsernameLen},
		{Name: "first_name", Optional: true, AllowBlank: true, MaxLength: users.MaxNameLen},
		{Name: "last_name", Optional: true, AllowBlank: true, MaxLength: users.MaxNameLen},
		{Name: "password", Optional: true, AllowBlank: true},
	}
	// ResetConfirmFields is PasswordResetConfirmSerializer.
	ResetConfirmFields = Serializer{
		{Name: "new_password1", MaxLength: 128},
		{Name: "new_password2", MaxLength: 128},
		{Name: "uid"},
		{Name: "token"},
	}
	// EmailFields is PasswordResetSerializer, and the resend of a verification mail.
	EmailFields = Serializer{{Name: "email", Check: checkEmail}}
	// VerifyEmailFields is VerifyEmailSerializer.
	VerifyEmailFields = Serializer{{Name: "key"}}
	// TokenFields are djangorestframework-jwt's refresh and verify
	// serializers.
	TokenFields = Serializer{{Name: "token"}}
)

// PasswordChangeFields is PasswordChangeSerializer, with old_password
// when OLD_PASSWORD_FIELD_ENABLED.
func PasswordChangeFields(withOld bool) Serializer {
	f := Serializer{{Name: "new_password1", MaxLength: 128}, {Name: "new_password2", MaxLength: 128}}
	if withOld {
		f = append(Serializer{{Name: "old_password", MaxLength: 128}}, f...)
	}
	return f
}

// JWTFromHeader reads an Authorization header as djangorestframework-jwt
// does, split on white space: no header or another scheme is no token; the
// JWT prefix (or Bearer) alone, or followed by more than one word, is a
// 401 of its own.
func JWTFromHeader(h string) (string, *Problem) {
	parts := strings.FieldsFunc(h, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
	})
	if len(parts) == 0 || !(strings.EqualFold(parts[0], "JWT") || strings.EqualFold(parts[0], "Bearer")) {
		return "", nil
	}
	msg := NoCredentials
	switch len(parts) {
	case 2:
		return parts[1], nil
	case 1:
	default:
		msg = CredentialsSpaces
	}
	p := Detail(401, msg)
	p.Challenge = Challenge
	return "", p
}
