package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// A Value is one member of a request body as DRF's parsers hand it to a
// serializer: a string (every value of a form), or from JSON a number,
// true or false, null, a list or an object, or a file part of a multipart
// body.
type Value struct {
	kind valueKind
	// text is a string's text or a number as Python's str() writes it.
	text string
	// surrogate is the first lone surrogate of a JSON string, 0 if none.
	surrogate rune
}

type valueKind uint8

const (
	kindString valueKind = iota
	kindNumber
	kindBool
	kindNull
	kindList
	kindObject
	kindFile
)

func (v jsonValue) value() Value { return Value{kind: v.kind, text: v.text, surrogate: v.surrogate} }

// Text is a string value.
func Text(s string) Value { return Value{text: s} }

// TextBytes is a string value from bytes meant as UTF-8, each invalid
// sequence read as U+FFFD (Django's reading of a multipart field).
func TextBytes(b []byte) Value { return Text(decodeUTF8Replace(b)) }

// File is the value of a file part of a multipart body.
func File() Value { return Value{kind: kindFile} }

// Data is a parsed request body: its members by name, and whether it is
// a form (form and multipart bodies, which DRF reads as HTML input:
// an empty value of an optional field counts as absent) or JSON.
type Data struct {
	form   bool
	values map[string]Value
}

// FormData is the data of a form or multipart body.
func FormData(values map[string]Value) Data { return Data{form: true, values: values} }

// Field is a field of a DRF serializer, a CharField (or an EmailField,
// with Check).
type Field struct {
	Name string
	// Optional is required=False: the field may be left out.
	Optional bool
	// AllowBlank is allow_blank=True: "" (or white space) is a value.
	AllowBlank bool
	// MaxLength is max_length, in characters; 0 for none.
	MaxLength int
	// Check, when set, runs after DRF's own validators on the stripped
	// value and returns a message, or "" for a valid value (an
	// EmailField's EmailValidator).
	Check func(string) string
}

// Serializer is the fields of a DRF serializer in the order it declares
// them, which is the order of its errors.
type Serializer []Field

// Names are the serializer's field names in order.
func (s Serializer) Names() []string {
	names := make([]string, len(s))
	for i, f := range s {
		names[i] = f.Name
	}
	return names
}

// Validate runs DRF's field validation on d: every field is validated and
// every error kept, as serializer.is_valid() does before the serializer's
// own validate(). It returns the stripped values of the fields present
// (an optional field left out has no entry) and the errors, nil when
// there are none. partial is DRF's partial update (PATCH): a field left
// out is skipped, required or not.
func (s Serializer) Validate(d Data, partial bool) (map[string]string, *FieldErrors) {
	values := map[string]string{}
	var fe FieldErrors
	for _, f := range s {
		v, ok := d.get(f, partial)
		if !ok {
			if !partial && !f.Optional {
				fe.Add(f.Name, Required)
			}
			continue
		}
		clean, msgs := f.validate(v)
		if len(msgs) > 0 {
			fe.Add(f.Name, msgs...)
			continue
		}
		values[f.Name] = clean
	}
	if fe.Empty() {
		return values, nil
	}
	return values, &fe
}

// get is DRF's Field.get_value: the field's value, or false when it
// counts as absent. In a form, a field sent empty counts as absent when it
// is optional and may not be blank.
func (d Data) get(f Field, partial bool) (Value, bool) {
	v, ok := d.values[f.Name]
	if !ok {
		return Value{}, false
	}
	if d.form && v.kind == kindString && v.text == "" && f.Optional && !f.AllowBlank {
		return Value{}, false
	}
	return v, true
}

// validate is a CharField's run_validation on a value that is present.
func (f Field) validate(v Value) (string, []string) {
	switch v.kind {
	case kindNull:
		return "", []string{Null}
	case kindString:
		if strings.TrimFunc(v.text, isPySpace) == "" {
			if !f.AllowBlank {
				return "", []string{Blank}
			}
			return "", nil
		}
	case kindNumber:
	default:
		return "", []string{NotAString}
	}
	s := strings.TrimFunc(v.text, isPySpace)
	var msgs []string
	if f.MaxLength > 0 && utf8.RuneCountInString(s) > f.MaxLength {
		msgs = append(msgs, MaxLength(f.MaxLength))
	}
	if strings.ContainsRune(s, 0) {
		msgs = append(msgs, NullCharacters)
	}
	if v.surrogate != 0 {
		msgs = append(msgs, SurrogateCharacters(v.surrogate))
	}
	if f.Check != nil {
		if msg := f.Check(s); msg != "" {
			msgs = append(msgs, msg)
		}
	}
	return s, msgs
}

// isPySpace is Python's str.isspace() for one character, the white space
// str.strip() removes: Go's unicode.IsSpace and the four information
// separators U+001C to U+001F.
func isPySpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680,
		0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// FieldErrors are DRF's field errors: for each field that failed, in the
// order they were added, every message about it. Its JSON is
// {"field": ["message", …], …} in that order, as DRF writes it.
type FieldErrors struct {
	names []string
	msgs  map[string][]string
}

// Add appends messages about field.
func (f *FieldErrors) Add(field string, msgs ...string) {
	if f.msgs == nil {
		f.msgs = map[string][]string{}
	}
	if _, ok := f.msgs[field]; !ok {
		f.names = append(f.names, field)
	}
	f.msgs[field] = append(f.msgs[field], msgs...)
}

// Has reports whether field has errors.
func (f *FieldErrors) Has(field string) bool {
	_, ok := f.msgs[field]
	return ok
}

// Empty reports whether there are no errors.
func (f *FieldErrors) Empty() bool { return f == nil || len(f.names) == 0 }

// Messages are the messages about field.
func (f *FieldErrors) Messages(field string) []string { return f.msgs[field] }

// Merge adds the errors of other about the fields that have none yet.
func (f *FieldErrors) Merge(other *FieldErrors) {
	if other == nil {
		return
	}
	for _, n := range other.names {
		if !f.Has(n) {
			f.Add(n, other.msgs[n]...)
		}
	}
}

// Sort orders the fields as order lists them, the others after them in
// the order they came.
func (f *FieldErrors) Sort(order []string) {
	rank := func(n string) int {
		if i := slices.Index(order, n); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(f.names, func(a, b string) int { return rank(a) - rank(b) })
}

// Problem is the 400 that carries the errors.
func (f *FieldErrors) Problem() *Problem { return &Problem{Status: 400, Body: f} }

// MarshalJSON writes the errors as DRF does, fields in order.
func (f *FieldErrors) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range f.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalNoEscape(n)
		if err != nil {
			return nil, err
		}
		v, err := marshalNoEscape(f.msgs[n])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// MarshalBody writes a response body as DRF's JSONRenderer does: compact,
// without escaping HTML or non-ASCII characters, without a final newline.
func MarshalBody(v any) ([]byte, error) { return marshalNoEscape(v) }

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("compat: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
