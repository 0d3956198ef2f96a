package compat

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A JSON body is read here as Django REST Framework's JSONParser reads it:
// decoded as UTF-8 by Python's codecs (a sequence cut short by the end of
// the body is dropped, any other bad byte is an error), then parsed by
// Python's json module (3.11, its C scanner), with NaN and the infinities
// refused as DRF's strict mode does. A body it refuses is answered with
// the same "JSON parse error - …" detail, word for word and position for
// position: Python counts positions in characters, not bytes, and so does
// this parser. testdata/json_bodies.json, made by testdata/gen_json_bodies.py
// from the real DRF, holds the bodies the test compares.

// maxJSONDepth bounds the nesting of arrays and objects. Python's parser
// recurses and stops at its recursion limit (about a thousand levels,
// less what the stack already holds), failing with a RecursionError that
// DRF does not catch; here it is a parse error.
const maxJSONDepth = 500

// maxIntDigits is Python's limit on the digits of an integer it converts
// from text (sys.get_int_max_str_digits()).
const maxIntDigits = 4300

// jsonError is a body the parser refuses; msg is the text after "JSON
// parse error - ".
type jsonError struct{ msg string }

func (e *jsonError) Error() string { return e.msg }

// jsonValue is a parsed JSON value, as far as a DRF CharField looks at it.
type jsonValue struct {
	kind valueKind
	// text is a string's characters (a lone surrogate as U+FFFD), or a
	// number as Python's str() writes it.
	text string
	// surrogate is the first lone surrogate of a string, 0 if none.
	surrogate rune
	// isFloat tells a float from an int (for the type a body that is not
	// an object is named by).
	isFloat bool
	// members are an object's members, the last of a repeated name kept.
	members map[string]Value
}

// pyParser parses a document of characters.
type pyParser struct {
	s     []rune
	depth int
}

// ParseJSON reads a JSON request body as DRF's JSONParser does and returns
// its members, or the Problem DRF answers: 400 {"detail": "JSON parse
// error - …"} for a body it cannot read, 400 with non_field_errors for a
// body that is not an object (a serializer's "Invalid data. Expected a
// dictionary, but got list." or, for null, "No data provided").
func ParseJSON(body []byte) (Data, *Problem) {
	v, err := parsePythonJSON(body)
	if err != nil {
		return Data{}, Detail(400, JSONParseError(err.msg))
	}
	switch v.kind {
	case kindObject:
		return Data{values: v.members}, nil
	case kindNull:
		return Data{}, NonField(NoData)
	}
	return Data{}, NonField(NotADictionary(pyTypeName(v)))
}

// pyTypeName is the name of a value's Python type.
func pyTypeName(v jsonValue) string {
	switch v.kind {
	case kindString:
		return "str"
	case kindNumber:
		if v.isFloat {
			return "float"
		}
		return "int"
	case kindBool:
		return "bool"
	case kindList:
		return "list"
	case kindObject:
		return "dict"
	}
	return "NoneType"
}

// parsePythonJSON decodes and parses a whole body.
func parsePythonJSON(body []byte) (jsonValue, *jsonError) {
	s, err := decodeUTF8Stream(body)
	if err != nil {
		return jsonValue{}, err
	}
	p := &pyParser{s: s}
	if len(s) > 0 && s[0] == '\ufeff' {
		return jsonValue{}, p.errAt("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0)
	}
	idx := p.skipSpace(0)
	v, end, err := p.scan(idx)
	if err != nil {
		return jsonValue{}, err
	}
	end = p.skipSpace(end)
	if end != len(s) {
		return jsonValue{}, p.errAt("Extra data", end)
	}
	return v, nil
}

// errAt is Python's JSONDecodeError: the message, then the line and
// column (both from 1) and the character offset of pos.
func (p *pyParser) errAt(msg string, pos int) *jsonError {
	line, lastNL := 1, -1
	for i := 0; i < pos && i < len(p.s); i++ {
		if p.s[i] == '\n' {
			line++
			lastNL = i
		}
	}
	return &jsonError{fmt.Sprintf("%s: line %d column %d (char %d)", msg, line, pos-lastNL, pos)}
}

// expectingValue is the error of a value missing at pos (the scanner's
// StopIteration, which the decoder reports as "Expecting value").
func (p *pyParser) expectingValue(pos int) *jsonError { return p.errAt("Expecting value", pos) }

func isJSONSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

func (p *pyParser) skipSpace(i int) int {
	for i < len(p.s) && isJSONSpace(p.s[i]) {
		i++
	}
	return i
}

// has reports whether word is at i.
func (p *pyParser) has(i int, word string) bool {
	for _, r := range word {
		if i >= len(p.s) || p.s[i] != r {
			return false
		}
		i++
	}
	return true
}

// scan parses the value at idx and returns it with the index after it.
func (p *pyParser) scan(idx int) (jsonValue, int, *jsonError) {
	if idx >= len(p.s) {
		return jsonValue{}, 0, p.expectingValue(idx)
	}
	switch p.s[idx] {
	case '"':
		text, sur, end, err := p.scanString(idx + 1)
		return jsonValue{kind: kindString, text: text, surrogate: sur}, end, err
	case '{':
		return p.nested(idx, p.scanObject)
	case '[':
		return p.nested(idx, p.scanArray)
	case 'n':
		if p.has(idx, "null") {
			return jsonValue{kind: kindNull}, idx + 4, nil
		}
	case 't':
		if p.has(idx, "true") {
			return jsonValue{kind: kindBool}, idx + 4, nil
		}
	case 'f':
		if p.has(idx, "false") {
			return jsonValue{kind: kindBool}, idx + 5, nil
		}
	case 'N':
		if p.has(idx, "NaN") {
			return jsonValue{}, 0, outOfRange("NaN")
		}
	case 'I':
		if p.has(idx, "Infinity") {
			return jsonValue{}, 0, outOfRange("Infinity")
		}
	case '-':
		if p.has(idx, "-Infinity") {
			return jsonValue{}, 0, outOfRange("-Infinity")
		}
	}
	return p.scanNumber(idx)
}

// outOfRange is DRF's refusal of NaN and the infinities.
func outOfRange(name string) *jsonError {
	return &jsonError{"Out of range float values are not JSON compliant: '" + name + "'"}
}

func (p *pyParser) nested(idx int, f func(int) (jsonValue, int, *jsonError)) (jsonValue, int, *jsonError) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxJSONDepth {
		what := "array"
		if p.s[idx] == '{' {
			what = "object"
		}
		return jsonValue{}, 0, &jsonError{"maximum recursion depth exceeded while decoding a JSON " + what + " from a unicode string"}
	}
	return f(idx + 1)
}

// scanObject parses an object whose "{" is just before idx.
func (p *pyParser) scanObject(idx int) (jsonValue, int, *jsonError) {
	members := map[string]Value{}
	idx = p.skipSpace(idx)
	if idx >= len(p.s) || p.s[idx] != '}' {
		for {
			if idx >= len(p.s) || p.s[idx] != '"' {
				return jsonValue{}, 0, p.errAt("Expecting property name enclosed in double quotes", idx)
			}
			key, _, next, err := p.scanString(idx + 1)
			if err != nil {
				return jsonValue{}, 0, err
			}
			idx = p.skipSpace(next)
			if idx >= len(p.s) || p.s[idx] != ':' {
				return jsonValue{}, 0, p.errAt("Expecting ':' delimiter", idx)
			}
			idx = p.skipSpace(idx + 1)
			v, next, err := p.scan(idx)
			if err != nil {
				return jsonValue{}, 0, err
			}
			members[key] = v.value()
			idx = p.skipSpace(next)
			if idx < len(p.s) && p.s[idx] == '}' {
				break
			}
			if idx >= len(p.s) || p.s[idx] != ',' {
				return jsonValue{}, 0, p.errAt("Expecting ',' delimiter", idx)
			}
			idx = p.skipSpace(idx + 1)
		}
	}
	return jsonValue{kind: kindObject, members: members}, idx + 1, nil
}

// scanArray parses an array whose "[" is just before idx.
func (p *pyParser) scanArray(idx int) (jsonValue, int, *jsonError) {
	idx = p.skipSpace(idx)
	if idx >= len(p.s) || p.s[idx] != ']' {
		for {
			_, next, err := p.scan(idx)
			if err != nil {
				return jsonValue{}, 0, err
			}
			idx = p.skipSpace(next)
			if idx < len(p.s) && p.s[idx] == ']' {
				break
			}
			if idx >= len(p.s) || p.s[idx] != ',' {
				return jsonValue{}, 0, p.errAt("Expecting ',' delimiter", idx)
			}
			idx = p.skipSpace(idx + 1)
		}
	}
	return jsonValue{kind: kindList}, idx + 1, nil
}

// scanString parses a string whose opening quote is just before end: its
// text (each lone surrogate as U+FFFD), its first lone surrogate, and the
// index after the closing quote.
func (p *pyParser) scanString(end int) (string, rune, int, *jsonError) {
	s := p.s
	begin := end - 1
	var b strings.Builder
	var surrogate rune
	for {
		next := end
		var c rune
		for ; next < len(s); next++ {
			c = s[next]
			if c == '"' || c == '\\' {
				break
			}
			if c <= 0x1f {
				return "", 0, 0, p.errAt("Invalid control character at", next)
			}
		}
		if next >= len(s) {
			return "", 0, 0, p.errAt("Unterminated string starting at", begin)
		}
		b.WriteString(string(s[end:next]))
		next++
		if c == '"' {
			return b.String(), surrogate, next, nil
		}
		if next == len(s) {
			return "", 0, 0, p.errAt("Unterminated string starting at", begin)
		}
		c = s[next]
		if c != 'u' {
			end = next + 1
			switch c {
			case '"', '\\', '/':
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			default:
				return "", 0, 0, p.errAt("Invalid \\escape", end-2)
			}
			b.WriteRune(c)
			continue
		}
		next++
		end = next + 4
		if end >= len(s) {
			return "", 0, 0, p.errAt("Invalid \\uXXXX escape", next-1)
		}
		c, ok := hex4(s[next:end])
		if !ok {
			return "", 0, 0, p.errAt("Invalid \\uXXXX escape", end-5)
		}
		if c >= 0xd800 && c <= 0xdbff && end+6 < len(s) && s[end] == '\\' && s[end+1] == 'u' {
			c2, ok := hex4(s[end+2 : end+6])
			if !ok {
				return "", 0, 0, p.errAt("Invalid \\uXXXX escape", end+1)
			}
			if c2 >= 0xdc00 && c2 <= 0xdfff {
				c = 0x10000 + (c-0xd800)<<10 + (c2 - 0xdc00)
				end += 6
			}
		}
		if c >= 0xd800 && c <= 0xdfff {
			if surrogate == 0 {
				surrogate = c
			}
			c = utf8.RuneError
		}
		b.WriteRune(c)
	}
}

// hex4 decodes four hexadecimal digits.
func hex4(d []rune) (rune, bool) {
	var c rune
	for _, r := range d {
		c <<= 4
		switch {
		case r >= '0' && r <= '9':
			c |= r - '0'
		case r >= 'a' && r <= 'f':
			c |= r - 'a' + 10
		case r >= 'A' && r <= 'F':
			c |= r - 'A' + 10
		default:
			return 0, false
		}
	}
	return c, true
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// scanNumber matches a number at start as Python's scanner does: an int
// part without leading zeros, then a fraction only if a digit follows the
// point, then an exponent only if a digit ends it.
func (p *pyParser) scanNumber(start int) (jsonValue, int, *jsonError) {
	s, idx := p.s, start
	if s[idx] == '-' {
		idx++
		if idx >= len(s) {
			return jsonValue{}, 0, p.expectingValue(start)
		}
	}
	switch {
	case s[idx] >= '1' && s[idx] <= '9':
		idx++
		for idx < len(s) && isDigit(s[idx]) {
			idx++
		}
	case s[idx] == '0':
		idx++
	default:
		return jsonValue{}, 0, p.expectingValue(start)
	}
	isFloat := false
	if idx+1 < len(s) && s[idx] == '.' && isDigit(s[idx+1]) {
		isFloat = true
		idx += 2
		for idx < len(s) && isDigit(s[idx]) {
			idx++
		}
	}
	if idx+1 < len(s) && (s[idx] == 'e' || s[idx] == 'E') {
		eStart := idx
		idx++
		if idx+1 < len(s) && (s[idx] == '-' || s[idx] == '+') {
			idx++
		}
		for idx < len(s) && isDigit(s[idx]) {
			idx++
		}
		if isDigit(s[idx-1]) {
			isFloat = true
		} else {
			idx = eStart
		}
	}
	lit := string(s[start:idx])
	if !isFloat {
		digits := strings.TrimPrefix(lit, "-")
		if len(digits) > maxIntDigits {
			return jsonValue{}, 0, &jsonError{fmt.Sprintf("Exceeds the limit (%d digits) for integer string conversion: value has %d digits; use sys.set_int_max_str_digits() to increase the limit", maxIntDigits, len(digits))}
		}
		if digits == "0" {
			lit = "0" // Python's int has no negative zero
		}
		return jsonValue{kind: kindNumber, text: lit}, idx, nil
	}
	f, _ := strconv.ParseFloat(lit, 64) // out of range: ±Inf or ±0, as Python's float()
	return jsonValue{kind: kindNumber, text: pyFloatRepr(f), isFloat: true}, idx, nil
}

// pyFloatRepr writes f as Python's repr() (and str()) does: the shortest
// digits that read back as f, in positional notation with at least one
// digit after the point when the decimal exponent is from -4 to 15, in
// scientific notation (an exponent of at least two digits, with its sign)
// otherwise.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±xx
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, expPart, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expPart)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1 // digits are 0.d1d2… × 10^decpt
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			return sign + "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			return sign + digits + strings.Repeat("0", decpt-len(digits)) + ".0"
		default:
			return sign + digits[:decpt] + "." + digits[decpt:]
		}
	}
	m := digits[:1]
	if len(digits) > 1 {
		m += "." + digits[1:]
	}
	es := "+"
	if exp < 0 {
		es, exp = "-", -exp
	}
	return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
}

// decodeUTF8Stream decodes body as Python's UTF-8 stream reader does when
// it reads a whole body at once: a sequence the end of the body cuts short
// is left out, any other invalid byte fails with Python's
// UnicodeDecodeError message.
func decodeUTF8Stream(body []byte) ([]rune, *jsonError) {
	out := make([]rune, 0, len(body))
	for i := 0; i < len(body); {
		if body[i] < utf8.RuneSelf {
			out = append(out, rune(body[i]))
			i++
			continue
		}
		n, valid, reason := utf8Sequence(body[i:])
		if reason == "" {
			r, _ := utf8.DecodeRune(body[i : i+n])
			out = append(out, r)
			i += n
			continue
		}
		if reason == "unexpected end of data" {
			break // kept back for more data that never comes
		}
		if valid == 1 {
			return nil, &jsonError{fmt.Sprintf("'utf-8' codec can't decode byte 0x%02x in position %d: %s", body[i], i, reason)}
		}
		return nil, &jsonError{fmt.Sprintf("'utf-8' codec can't decode bytes in position %d-%d: %s", i, i+valid-1, reason)}
	}
	return out, nil
}

// utf8Sequence looks at the sequence starting b (whose first byte is not
// ASCII): its length when it is valid (reason ""), or else why not and how
// many bytes of it were a valid beginning (at least 1), as Python's
// decoder reports it.
func utf8Sequence(b []byte) (n, valid int, reason string) {
	c := b[0]
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case c >= 0xc2 && c <= 0xdf:
		n = 2
	case c >= 0xe0 && c <= 0xef:
		n = 3
		if c == 0xe0 {
			lo = 0xa0
		} else if c == 0xed {
			hi = 0x9f
		}
	case c >= 0xf0 && c <= 0xf4:
		n = 4
		if c == 0xf0 {
			lo = 0x90
		} else if c == 0xf4 {
			hi = 0x8f
		}
	default:
		return 0, 1, "invalid start byte"
	}
	for k := 1; k < n; k++ {
		if k >= len(b) {
			return 0, k, "unexpected end of data"
		}
		if b[k] < lo || b[k] > hi {
			return 0, k, "invalid continuation byte"
		}
		lo, hi = 0x80, 0xbf
	}
	return n, 0, ""
}

// decodeUTF8Replace decodes b as Python does with errors="replace": each
// invalid sequence (a bad byte, or a valid beginning cut short) becomes
// one U+FFFD.
func decodeUTF8Replace(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			sb.WriteByte(b[i])
			i++
			continue
		}
		n, valid, reason := utf8Sequence(b[i:])
		if reason == "" {
			sb.Write(b[i : i+n])
			i += n
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += valid
	}
	return sb.String()
}
