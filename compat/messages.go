// Package compat holds the exact wording of the errors that a Django REST
// Framework API with django-rest-auth and djangorestframework-jwt sends, so
// that authd's Django-era paths answer a front end written for that stack
// in the words and shapes it already handles; and it reads request bodies
// as DRF does (ParseJSON, ParseForm), validates their fields as DRF's
// serializers do (Serializer), and words the domain's errors (Render).
//
// The strings are those of Django 3.2, Django REST Framework 3.14,
// django-rest-auth 0.9.5 and djangorestframework-jwt 1.11.0. The test
// checks each one against testdata/drf_messages.json, which
// testdata/gen_drf_messages.py makes by running the real Django and DRF.
//
// The shapes, all with Content-Type application/json:
//
//   - field errors: status 400, {"<field>": ["<message>", …], …}, one list
//     per field that failed, every message of that field in the list;
//   - errors of the request as a whole: status 400,
//     {"non_field_errors": ["<message>"]} (NonFieldErrors);
//   - everything else: {"detail": "<message>"} with the status of the
//     error; a 401 also sends "WWW-Authenticate: JWT realm=\"api\""
//     (Challenge) and a 429 "Retry-After: <seconds>".
//
// DRF writes the JSON compact, without spaces, and without escaping
// non-ASCII characters (MarshalBody); field errors come in the order of the
// serializer's fields (FieldErrors).
package compat

import (
	"fmt"
	"strconv"
)

// NonFieldErrors is the key of the errors of the request as a whole.
const NonFieldErrors = "non_field_errors"

// Challenge is the WWW-Authenticate value of a 401 from
// djangorestframework-jwt's authentication class.
const Challenge = `JWT realm="api"`

// Field errors (status 400, under the field's name).
const (
	// Required: a field that must be sent is missing (DRF's Field).
	Required = "This field is required."
	// Blank: a string field is "" or white space (DRF's CharField).
	Blank = "This field may not be blank."
	// Null: a field is JSON null (DRF's Field, allow_null=False).
	Null = "This field may not be null."
	// NotAString: a string field is true, false, a list or an object, or
	// a file part of a multipart body (DRF's CharField; numbers are
	// turned into strings).
	NotAString = "Not a valid string."
	// NullCharacters: a string holds NUL (DRF's CharField).
	NullCharacters = "Null characters are not allowed."
	// InvalidEmail: Django's EmailValidator, through DRF's EmailField.
	InvalidEmail = "Enter a valid email address."
	// InvalidUsername: Django's UnicodeUsernameValidator on auth.User's
	// username.
	InvalidUsername = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
	// UsernameTaken: auth.User's username "unique" message, on "username".
	UsernameTaken = "A user with that username already exists."
	// EmailTaken: django-rest-auth's registration, on "email".
	EmailTaken = "A user is already registered with this e-mail address."
	// PasswordTooCommon: Django's CommonPasswordValidator.
	PasswordTooCommon = "This password is too common."
	// PasswordTooSimilarToUsername: Django's UserAttributeSimilarityValidator
	// when the password is close to the username. Registration does not
	// run it (it has no user yet); a password change does, on
	// "new_password2".
	PasswordTooSimilarToUsername = "The password is too similar to the username."
	// PasswordTooSimilarToEmail: the same validator when the password is
	// close to the email address (and not to the username, which it
	// checks first).
	PasswordTooSimilarToEmail = "The password is too similar to the email address."
	// PasswordEntirelyNumeric: Django's NumericPasswordValidator.
	PasswordEntirelyNumeric = "This password is entirely numeric."
	// PasswordChangeMismatch: Django's SetPasswordForm, on
	// "new_password2" of a password change or reset confirmation. Note
	// the typographic apostrophe.
	PasswordChangeMismatch = "The two password fields didn’t match."
	// OldPasswordInvalid: django-rest-auth's password change, on
	// "old_password", when it is wrong. No full stop.
	OldPasswordInvalid = "Invalid password"
	// InvalidValue: django-rest-auth's reset confirmation, on "uid" for a
	// uid that names no user, on "token" for a bad token. No full stop.
	InvalidValue = "Invalid value"
)

// Errors of the request as a whole (status 400, under NonFieldErrors).
const (
	// RegisterPasswordMismatch: django-rest-auth's registration, when
	// password1 and password2 differ. Note the straight apostrophe, unlike
	// PasswordChangeMismatch.
	RegisterPasswordMismatch = "The two password fields didn't match."
	// BadLogin: django-rest-auth's login, for a wrong username or
	// password, an inactive user, or a missing username.
	BadLogin = "Unable to log in with provided credentials."
	// RefreshExpired: djangorestframework-jwt's refresh view, past
	// JWT_REFRESH_EXPIRATION_DELTA from the first login.
	RefreshExpired = "Refresh has expired."
	// MustInclude: django-rest-auth's login (with allauth's username
	// login), when the username is blank or left out.
	MustInclude = `Must include "username" and "password".`
	// NoData: a serializer given JSON null.
	NoData = "No data provided"
)

// "detail" messages.
const (
	// NotAuthenticated (401): no credentials.
	NotAuthenticated = "Authentication credentials were not provided."
	// AuthenticationFailed (401): DRF's default for bad credentials.
	AuthenticationFailed = "Incorrect authentication credentials."
	// SignatureExpired (401): djangorestframework-jwt, an expired token.
	SignatureExpired = "Signature has expired."
	// DecodeError (401): djangorestframework-jwt, a token that does not
	// decode or verify.
	DecodeError = "Error decoding signature."
	// NoCredentials (401): djangorestframework-jwt, an Authorization
	// header of the prefix alone.
	NoCredentials = "Invalid Authorization header. No credentials provided."
	// CredentialsSpaces (401): djangorestframework-jwt, an Authorization
	// header with more than a prefix and a token.
	CredentialsSpaces = "Invalid Authorization header. Credentials string should not contain spaces."
	// PermissionDenied (403).
	PermissionDenied = "You do not have permission to perform this action."
	// NotFound (404).
	NotFound = "Not found."
	// JSONParseErrorPrefix (400) starts the detail of a body that is not
	// JSON; Python's json module words the rest, which only its parser
	// can reproduce.
	JSONParseErrorPrefix = "JSON parse error - "
)

// MaxLength is the field error of a string longer than n characters (DRF's
// CharField max_length), e.g. for Django's 150-character usernames.
func MaxLength(n int) string {
	return "Ensure this field has no more than " + strconv.Itoa(n) + " characters."
}

// PasswordTooShort is Django's MinimumLengthValidator message for a
// minimum of min characters.
func PasswordTooShort(min int) string {
	return fmt.Sprintf("This password is too short. It must contain at least %d %s.", min, plural(min, "character", "characters"))
}

// SurrogateCharacters is the field error of a string holding a lone
// surrogate (DRF's CharField), naming the first one.
func SurrogateCharacters(r rune) string {
	return fmt.Sprintf("Surrogate characters are not allowed: U+%X.", r)
}

// NotADictionary is the error (under NonFieldErrors) of a JSON body that
// is not an object; pyType is the Python type it is: list, str, int,
// float or bool.
func NotADictionary(pyType string) string {
	return "Invalid data. Expected a dictionary, but got " + pyType + "."
}

// MultipartParseError is the detail of a 400 for a multipart body Django
// cannot read; reason says why.
func MultipartParseError(reason string) string {
	return "Multipart form parse error - " + reason
}

// MethodNotAllowed is the detail of a 405 for the request's method.
func MethodNotAllowed(method string) string {
	return `Method "` + method + `" not allowed.`
}

// UnsupportedMediaType is the detail of a 415 for the request's
// Content-Type (as sent, parameters included).
func UnsupportedMediaType(mediaType string) string {
	return `Unsupported media type "` + mediaType + `" in request.`
}

// ThrottledNoWait is the detail of a 429 from a throttle that cannot say
// how long to wait (and sends no Retry-After).
const ThrottledNoWait = "Request was throttled."

// Throttled is the detail of a 429 whose Retry-After is wait seconds: DRF
// rounds the wait up to whole seconds, and sends Retry-After only when it
// is above 0.
func Throttled(wait int) string {
	return fmt.Sprintf("Request was throttled. Expected available in %d %s.", wait, plural(wait, "second", "seconds"))
}

// JSONParseError is the detail of a 400 for a body that is not JSON;
// reason says what is wrong with it.
func JSONParseError(reason string) string {
	return JSONParseErrorPrefix + reason
}

// plural picks English's singular form for exactly 1, as Django's
// ngettext does.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
