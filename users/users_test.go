package users

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestNormalizeUsername(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            error
	}{
		{"ascii", "alice", "alice", nil},
		{"django punctuation", "bob.builder+x@home-1_2", "bob.builder+x@home-1_2", nil},
		{"case kept", "Alice", "Alice", nil},
		{"NFC composed kept", "jörg", "jörg", nil},
		{"NFD composed", "jo\u0308rg", "jörg", nil},
		{"CJK", "山田太郎", "山田太郎", nil},
		{"fullwidth kept", "Ａｌｉｃｅ", "Ａｌｉｃｅ", nil},
		{"Cyrillic", "Иван_Петров", "Иван_Петров", nil},
		{"Greek", "Σωκράτης", "Σωκράτης", nil},
		{"Japanese with Latin", "山田たろうTARO", "山田たろうTARO", nil},
		{"Korean with Han", "김民准", "김民准", nil},
		{"Hebrew", "שלום", "שלום", nil},
		{"Latin with combining mark", "x\u0301y", "x\u0301y", nil},
		{"digits and punctuation", "007.a_b-c@d+e", "007.a_b-c@d+e", nil},
		{"inner space", "Mary Ann", "", ErrInnerSpace},
		{"inner ideographic space", "山田\u3000太郎", "", ErrInnerSpace},
		{"emoji", "🦊fox", "", ErrUsernameChar},
		{"symbol", "alice\u2605", "", ErrUsernameChar},
		{"ligature", "\ufb01sh", "", ErrUsernameChar},
		{"superscript", "x\u00b2", "", ErrUsernameChar},
		{"variation selector", "alice\uFE0F", "", ErrInvisibleChar},
		{"combining grapheme joiner", "ali\u034Fce", "", ErrInvisibleChar},
		{"Hangul filler", "\u3164", "", ErrInvisibleChar},
		{"Hangul choseong filler", "a\u115Fb", "", ErrInvisibleChar},
		{"Hangul jungseong filler", "a\u1160b", "", ErrInvisibleChar},
		{"halfwidth Hangul filler", "a\uFFA0b", "", ErrInvisibleChar},
		{"braille blank", "\u2800", "", ErrInvisibleChar},
		{"braille blank inside", "ali\u2800ce", "", ErrInvisibleChar},
		{"Cyrillic a in Latin", "\u0430lice", "", ErrMixedScripts},
		{"Greek omicron in Latin", "b\u03bfb", "", ErrMixedScripts},
		{"Latin in Cyrillic", "Ивaн", "", ErrMixedScripts},
		{"Cyrillic with Greek", "Иβ", "", ErrMixedScripts},
		{"Latin with Hebrew", "abcשלום", "", ErrMixedScripts},
		{"Hangul with Hiragana", "김たろう", "", ErrMixedScripts},
		{"150 characters", strings.Repeat("é", 150), strings.Repeat("é", 150), nil},
		{"150 after NFC", strings.Repeat("e\u0301", 150), strings.Repeat("é", 150), nil},
		{"empty", "", "", ErrEmpty},
		{"151 characters", strings.Repeat("a", 151), "", ErrTooLong},
		{"151 multibyte", strings.Repeat("ü", 151), "", ErrTooLong},
		{"1 MiB", strings.Repeat("a", 1<<20), "", ErrTooLong},
		{"leading space", " alice", "", ErrSurroundingSpace},
		{"trailing space", "alice ", "", ErrSurroundingSpace},
		{"only space", " ", "", ErrSurroundingSpace},
		{"trailing no-break space", "alice\u00a0", "", ErrSurroundingSpace},
		{"leading ideographic space", "\u3000alice", "", ErrSurroundingSpace},
		{"tab", "ali\tce", "", ErrForbiddenChar},
		{"newline", "alice\n", "", ErrForbiddenChar},
		{"NUL", "ali\x00ce", "", ErrForbiddenChar},
		{"DEL", "alice\x7f", "", ErrForbiddenChar},
		{"C1 control", "alice\u0085", "", ErrForbiddenChar},
		{"zero-width space", "ali\u200bce", "", ErrForbiddenChar},
		{"zero-width joiner", "ali\u200dce", "", ErrForbiddenChar},
		{"RTL override", "\u202eecila", "", ErrForbiddenChar},
		{"BOM", "\ufeffalice", "", ErrForbiddenChar},
		{"line separator", "ali\u2028ce", "", ErrForbiddenChar},
		{"private use", "ali\ue000ce", "", ErrForbiddenChar},
		{"unassigned", "ali\U000e0fffce", "", ErrForbiddenChar},
		{"invalid UTF-8", "ali\xffce", "", ErrInvalidUTF8},
		{"surrogate bytes", "ali\xed\xa0\x80ce", "", ErrInvalidUTF8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeUsername(tc.in)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("NormalizeUsername(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("NormalizeUsername(%q) = %q, want %q", tc.in, got, tc.want)
			}
			var fe *FieldError
			if err != nil && (!errors.As(err, &fe) || fe.Field != "username" || fe.Message() == "") {
				t.Errorf("error %#v is not a *FieldError for username with a message", err)
			}
		})
	}
}

// Names that the rules for new usernames refuse are still stored names:
// NormalizeExistingUsername, which an import uses, takes them as they are.
func TestNormalizeExistingUsername(t *testing.T) {
	for _, in := range []string{"Mary Ann", "🦊fox", "\u0430lice", "alice\uFE0F", "\u3164", "\u2800"} {
		if got, err := NormalizeExistingUsername(in); err != nil || got != in {
			t.Errorf("NormalizeExistingUsername(%q) = %q, %v; want it unchanged", in, got, err)
		}
		if _, err := NormalizeUsername(in); err == nil {
			t.Errorf("NormalizeUsername(%q) accepted it", in)
		}
	}
	for _, in := range []string{"", " alice", "ali\u200bce", "a\x00b", "\xff"} {
		if _, err := NormalizeExistingUsername(in); err == nil {
			t.Errorf("NormalizeExistingUsername(%q) accepted it", in)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	local64 := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name, in, want string
		err            error
	}{
		{"empty means unset", "", "", nil},
		{"plain", "alice@example.com", "alice@example.com", nil},
		{"case kept", "Alice@Example.COM", "Alice@Example.COM", nil},
		{"plus and dots", "a.b+tag@mail.example.org", "a.b+tag@mail.example.org", nil},
		{"localhost", "root@localhost", "root@localhost", nil},
		{"unicode", "jörg@bücher.example", "jörg@bücher.example", nil},
		{"NFD to NFC", "jo\u0308rg@example.com", "jörg@example.com", nil},
		{"64-octet local part", local64 + "@example.com", local64 + "@example.com", nil},
		{"254 octets", "a@" + strings.Repeat("b", 248) + ".com", "a@" + strings.Repeat("b", 248) + ".com", nil},
		{"255 octets", "a@" + strings.Repeat("b", 249) + ".com", "", ErrTooLong},
		{"65-octet local part", local64 + "a@example.com", "", ErrInvalidEmail},
		{"no at", "alice.example.com", "", ErrInvalidEmail},
		{"no local part", "@example.com", "", ErrInvalidEmail},
		{"no domain", "alice@", "", ErrInvalidEmail},
		{"two ats", "a@b@example.com", "", ErrInvalidEmail},
		{"display name", "Alice <alice@example.com>", "", ErrInvalidEmail},
		{"angle brackets", "<alice@example.com>", "", ErrInvalidEmail},
		{"comment", "alice(work)@example.com", "", ErrInvalidEmail},
		{"quoted local part", `"alice smith"@example.com`, "", ErrInvalidEmail},
		{"leading space", " alice@example.com", "", ErrInvalidEmail},
		{"trailing space", "alice@example.com ", "", ErrInvalidEmail},
		{"list", "a@example.com, b@example.com", "", ErrInvalidEmail},
		{"newline", "alice@example.com\n", "", ErrForbiddenChar},
		{"header injection", "alice@example.com\r\nBcc: x@evil.example", "", ErrForbiddenChar},
		{"NUL", "alice\x00@example.com", "", ErrForbiddenChar},
		{"RTL override", "\u202ealice@example.com", "", ErrForbiddenChar},
		{"invalid UTF-8", "al\xffice@example.com", "", ErrInvalidUTF8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeEmail(tc.in)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("NormalizeEmail(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("NormalizeEmail(%q) = %q, want %q", tc.in, got, tc.want)
			}
			var fe *FieldError
			if err != nil && (!errors.As(err, &fe) || fe.Field != "email") {
				t.Errorf("error %#v is not a *FieldError for email", err)
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            error
	}{
		{"empty", "", "", nil},
		{"plain", "Alice", "Alice", nil},
		{"spaces kept", " van der Berg ", " van der Berg ", nil},
		{"apostrophe", "O'Brien-Smith", "O'Brien-Smith", nil},
		{"NFD", "Mu\u0308ller", "Müller", nil},
		{"150", strings.Repeat("ß", 150), strings.Repeat("ß", 150), nil},
		{"151", strings.Repeat("ß", 151), "", ErrTooLong},
		{"control", "Al\x1bice", "", ErrForbiddenChar},
		{"RTL override", "Al\u202eice", "", ErrForbiddenChar},
		{"invalid UTF-8", "Al\xc0ice", "", ErrInvalidUTF8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeName("last_name", tc.in)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("NormalizeName(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("NormalizeName(%q) = %q, want %q", tc.in, got, tc.want)
			}
			var fe *FieldError
			if err != nil && (!errors.As(err, &fe) || fe.Field != "last_name") {
				t.Errorf("error %#v is not a *FieldError for last_name", err)
			}
		})
	}
}

// TestFieldErrorHidesValue: messages go to clients and logs; they must not
// carry the value (which may be a mistyped password in a username box).
func TestFieldErrorHidesValue(t *testing.T) {
	const secret = "hunter2-is-my-password\x00"
	_, err := NormalizeUsername(secret)
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("NormalizeUsername = %v, want a *FieldError", err)
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(fe.Message(), "hunter2") {
		t.Errorf("error %q / message %q repeats the value", err, fe.Message())
	}
	_, err = NormalizeUsername(strings.Repeat("x", 151))
	if !errors.As(err, &fe) || !strings.Contains(fe.Message(), "150") {
		t.Errorf("too-long message = %v, want it to name the limit 150", err)
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^u_[a-z2-7]{26}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if !re.MatchString(id) {
			t.Fatalf("NewID() = %q, want u_ and 26 lower-case base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}
