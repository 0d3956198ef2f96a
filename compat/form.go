package compat

import (
	"strings"
	"unicode/utf8"
)

// MaxFormFields is Django's DATA_UPLOAD_MAX_NUMBER_FIELDS: a form body
// with more fields is refused.
const MaxFormFields = 1000

// TooManyFields is the detail of a 400 for a form body of more than
// MaxFormFields fields (Django's TooManyFieldsSent).
const TooManyFields = "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."

// ParseForm reads an application/x-www-form-urlencoded body as Django's
// QueryDict does: fields separated by "&" only, a field without "=" has
// the value "", "+" is a space, a "%" not followed by two hexadecimal
// digits stays as it is, escaped bytes that are not UTF-8 become U+FFFD,
// a body that is not UTF-8 is read as Latin-1, and a repeated field keeps
// its last value.
func ParseForm(body []byte) (Data, *Problem) {
	var qs string
	if utf8.Valid(body) {
		qs = string(body)
	} else {
		runes := make([]rune, len(body))
		for i, b := range body {
			runes[i] = rune(b)
		}
		qs = string(runes)
	}
	if strings.Count(qs, "&")+1 > MaxFormFields {
		return Data{}, Detail(400, TooManyFields)
	}
	values := map[string]Value{}
	for _, field := range strings.Split(qs, "&") {
		if field == "" {
			continue
		}
		name, value, _ := strings.Cut(field, "=")
		values[pyUnquote(strings.ReplaceAll(name, "+", " "))] = Text(pyUnquote(strings.ReplaceAll(value, "+", " ")))
	}
	return FormData(values), nil
}

// pyUnquote is Python's urllib.parse.unquote: each run of ASCII
// characters has its %XX escapes decoded to bytes, read as UTF-8 with
// errors replaced; other characters stay as they are.
func pyUnquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var out strings.Builder
	for len(s) > 0 {
		i := strings.IndexFunc(s, func(r rune) bool { return r >= utf8.RuneSelf })
		if i < 0 {
			i = len(s)
		}
		if i > 0 {
			out.WriteString(decodeUTF8Replace(unescapeBytes(s[:i])))
			s = s[i:]
			continue
		}
		j := strings.IndexFunc(s, func(r rune) bool { return r < utf8.RuneSelf })
		if j < 0 {
			j = len(s)
		}
		out.WriteString(s[:j])
		s = s[j:]
	}
	return out.String()
}

// unescapeBytes decodes the %XX escapes of an ASCII string, leaving a "%"
// without two hexadecimal digits after it as it is.
func unescapeBytes(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return b
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
