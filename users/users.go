// Package users holds the rules for user accounts' fields (username, email,
// profile names), the form of user ids, and the reading of a Django user
// dump for `authd users import`.
//
// Every rule lives here so the JSON API, the Django-era paths, the web pages
// and the CLI accept exactly the same values.
package users

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// Field limits. Username and name lengths are Django's (auth.User,
// Django 3.1+), so every Django user can be imported; the email limits are
// RFC 5321's (§4.5.3.1.1 and the 256-octet path less its angle brackets).
const (
	MaxUsernameLen   = 150 // characters
	MaxNameLen       = 150 // characters, each of first and last name
	MaxEmailLen      = 254 // octets
	MaxEmailLocalLen = 64  // octets before the "@"
)

// Reasons a field is refused. A *FieldError wraps one of them; test with
// errors.Is.
var (
	ErrEmpty            = errors.New("must not be empty")
	ErrTooLong          = errors.New("too long")
	ErrInvalidUTF8      = errors.New("not valid UTF-8")
	ErrForbiddenChar    = errors.New("contains a control, format or unassigned character")
	ErrSurroundingSpace = errors.New("begins or ends with a space")
	ErrInvalidEmail     = errors.New("not a valid email address")

	// Reasons only a new username is refused for (see NormalizeUsername).
	ErrInvisibleChar = errors.New("contains an invisible or blank character")
	ErrInnerSpace    = errors.New("contains a space")
	ErrMixedScripts  = errors.New("mixes scripts")
	ErrUsernameChar  = errors.New("contains a character a username may not hold")
)

// FieldError says which field is wrong and why. Its Message is safe to show
// to the client; neither Error nor Message repeats the value.
type FieldError struct {
	// Field is the API name: "username", "email", "first_name" or
	// "last_name".
	Field string
	// Err is one of the Err* reasons above.
	Err error
	// Max is the limit exceeded, for ErrTooLong.
	Max int
}

func (e *FieldError) Error() string { return "users: " + e.Field + ": " + e.Message() }

// Unwrap returns the reason, for errors.Is.
func (e *FieldError) Unwrap() error { return e.Err }

// Message is a sentence for the client about the field.
func (e *FieldError) Message() string {
	switch e.Err {
	case ErrEmpty:
		return "This field may not be blank."
	case ErrTooLong:
		if e.Field == "email" {
			return fmt.Sprintf("Ensure this field has no more than %d bytes.", e.Max)
		}
		return fmt.Sprintf("Ensure this field has no more than %d characters.", e.Max)
	case ErrInvalidUTF8:
		return "This field is not valid UTF-8."
	case ErrForbiddenChar:
		return "This field may not contain control or invisible characters."
	case ErrSurroundingSpace:
		return "This field may not begin or end with a space."
	case ErrInvalidEmail:
		return "Enter a valid email address."
	case ErrInvisibleChar:
		return "This field must not contain invisible or blank characters."
	case ErrInnerSpace:
		return "This field must not contain spaces."
	case ErrMixedScripts:
		return "This field must not mix scripts such as Latin and Cyrillic."
	case ErrUsernameChar:
		return "This field may contain only letters, digits and ASCII punctuation such as . _ - @ +, not symbols or emoji."
	}
	return "This field is invalid."
}

func fieldErr(field string, err error, max int) *FieldError {
	return &FieldError{Field: field, Err: err, Max: max}
}

// checkText applies the rules shared by every text field and returns s in
// NFC. maxRunes bounds the length in characters (after NFC); graphic
// requires every character to be graphic: letters, marks, numbers,
// punctuation, symbols and spaces (Unicode categories L, M, N, P, S, Zs).
// That refuses control characters (Cc: NUL, tab, newline, escape…), format
// characters (Cf: zero-width space U+200B, the right-to-left override
// U+202E used to disguise names, BOM), line and paragraph separators,
// private-use and unassigned code points.
func checkText(field, s string, maxRunes int) (string, error) {
	// Before NFC, so a huge input costs nothing: NFC composes at most a few
	// code points into one, so a value of this size can never pass.
	if len(s) > 8*utf8.UTFMax*maxRunes {
		return "", fieldErr(field, ErrTooLong, maxRunes)
	}
	if !utf8.ValidString(s) {
		return "", fieldErr(field, ErrInvalidUTF8, 0)
	}
	s = norm.NFC.String(s)
	if utf8.RuneCountInString(s) > maxRunes {
		return "", fieldErr(field, ErrTooLong, maxRunes)
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return "", fieldErr(field, ErrForbiddenChar, 0)
		}
	}
	return s, nil
}

// NormalizeUsername checks a new username and returns it in Unicode NFC,
// the form stored (uniqueness is then by storage.UsernameKey). Besides the
// rules of NormalizeExistingUsername, a new username must:
//
//   - hold no invisible or blank character (ErrInvisibleChar): no default
//     ignorable code point such as the variation selector U+FE0F or the
//     combining grapheme joiner U+034F, no Hangul filler (U+3164, U+115F,
//     U+1160, U+FFA0), no braille blank U+2800;
//   - hold no space (ErrInnerSpace);
//   - not mix scripts (ErrMixedScripts): its letters are all of one script
//     (characters common to all scripts, such as digits and punctuation,
//     and combining marks aside), or Latin together with the scripts of
//     one East Asian writing system: Han with Hiragana and Katakana
//     (Japanese), Han with Hangul (Korean) or Han with Bopomofo. So the
//     Cyrillic "а" of "аlice" is refused, "иван", "山田taro" and "jörg"
//     are not;
//   - pass the PRECIS UsernameCaseMapped profile of RFC 8265
//     (ErrUsernameChar): letters and digits of any script and the
//     printable ASCII punctuation, no symbols or emoji, no compatibility
//     characters such as ligatures or superscripts, and right-to-left text
//     only as the Bidi Rule of RFC 5893 allows.
//
// The name is stored as typed (after NFC), not as PRECIS maps it: case and
// width are kept, and only the uniqueness key folds them. Names stored
// before these rules are untouched. Errors are *FieldError with Field
// "username".
func NormalizeUsername(s string) (string, error) {
	const field = "username"
	s, err := NormalizeExistingUsername(s)
	if err != nil {
		return "", err
	}
	for _, r := range s {
		switch {
		case invisible(r):
			return "", fieldErr(field, ErrInvisibleChar, 0)
		case unicode.IsSpace(r):
			return "", fieldErr(field, ErrInnerSpace, 0)
		}
	}
	if mixesScripts(s) {
		return "", fieldErr(field, ErrMixedScripts, 0)
	}
	if _, err := precis.UsernameCaseMapped.String(s); err != nil {
		return "", fieldErr(field, ErrUsernameChar, 0)
	}
	return s, nil
}

// NormalizeExistingUsername checks a username by the rules every stored
// username meets and returns it in NFC: valid UTF-8, 1 to 150 characters
// after NFC, of graphic characters only (see ErrForbiddenChar), and not
// beginning or ending with white space: nothing is trimmed silently, so
// what the user typed is what they log in with. It is for names that
// already exist, such as those of an import from Django, which must come
// across as they are; a name chosen now goes through NormalizeUsername.
// Errors are *FieldError with Field "username".
func NormalizeExistingUsername(s string) (string, error) {
	const field = "username"
	if s == "" {
		return "", fieldErr(field, ErrEmpty, 0)
	}
	s, err := checkText(field, s, MaxUsernameLen)
	if err != nil {
		return "", err
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return "", fieldErr(field, ErrSurroundingSpace, 0)
	}
	return s, nil
}

// NormalizeEmail checks an email address and returns it in NFC. "" is
// allowed and means no email. Otherwise it must be a bare address, exactly
// as net/mail parses it back (no display name, comment, quoting or
// surrounding space: "Alice <a@x.org>" is refused), of graphic characters,
// at most 254 octets with a local part of at most 64. Case is kept; it is
// unique by storage.EmailKey. Errors are *FieldError with Field "email".
func NormalizeEmail(s string) (string, error) {
	const field = "email"
	if s == "" {
		return "", nil
	}
	if len(s) > MaxEmailLen {
		return "", fieldErr(field, ErrTooLong, MaxEmailLen)
	}
	s, err := checkText(field, s, MaxEmailLen)
	if err != nil {
		return "", err
	}
	if len(s) > MaxEmailLen { // NFC may lengthen a few scripts
		return "", fieldErr(field, ErrTooLong, MaxEmailLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fieldErr(field, ErrInvalidEmail, 0)
	}
	if at := strings.LastIndexByte(s, '@'); at < 1 || at > MaxEmailLocalLen {
		return "", fieldErr(field, ErrInvalidEmail, 0)
	}
	return s, nil
}

// NormalizeName checks a profile name (field is "first_name" or
// "last_name", for the error) and returns it in NFC: "" is allowed, else at
// most 150 graphic characters. Surrounding spaces are kept as given.
// Errors are *FieldError.
func NormalizeName(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	return checkText(field, s, MaxNameLen)
}

// IDPrefix starts every user id, so one is recognisable in logs and tokens.
const IDPrefix = "u_"

// NewID returns a new user id: "u_" and 128 random bits in lower-case
// base32 without padding (28 characters in all), e.g.
// "u_3jdm2hx4kq7vfe5ub6wncoyzla". It is opaque (it says nothing about the
// user or when they registered) and, being random, never reused.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	// RFC 4648 base32, lower case: URL-safe, and it survives systems that
	// fold case.
	return IDPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// HasControl reports whether s holds a control character (C0, DEL or C1):
// no username, password, OAuth parameter or return path may.
func HasControl(s string) bool { return strings.ContainsFunc(s, unicode.IsControl) }

// Truncate cuts s to at most n bytes at a character boundary: for text a
// client sends that is only shown (a user agent), which is kept short
// rather than refused.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
