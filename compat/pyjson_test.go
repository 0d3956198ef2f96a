package compat

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// jsonBody is one body of testdata/json_bodies.json, with what DRF made
// of it.
type jsonBody struct {
	Body      string `json:"body"`
	Detail    string `json:"detail"`
	NotObject string `json:"not_object"`
	Fields    map[string]struct {
		Value  *string  `json:"value"`
		Errors []string `json:"errors"`
	} `json:"fields"`
}

// TestParseJSONAsDRF reads every body the real DRF read
// (testdata/gen_json_bodies.py) and checks that it is refused with the
// same detail, or that a required CharField makes the same of each of its
// members.
func TestParseJSONAsDRF(t *testing.T) { checkBodies(t, "testdata/json_bodies.json") }

// checkBodies checks the bodies of a file made as json_bodies.json is.
func checkBodies(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []jsonBody
	if err := json.Unmarshal(raw, &bodies); err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		body, err := base64.StdEncoding.DecodeString(b.Body)
		if err != nil {
			t.Fatal(err)
		}
		name := string(body)
		if len(name) > 60 {
			name = name[:60] + "…"
		}
		data, p := ParseJSON(body)
		switch {
		case b.Detail != "":
			if p == nil || p.Status != 400 || !reflect.DeepEqual(p.Body, map[string]string{"detail": b.Detail}) {
				t.Errorf("%q: got %+v, DRF answered %q", name, p, b.Detail)
			}
		case b.NotObject != "":
			want := NotADictionary(b.NotObject)
			if b.NotObject == "NoneType" {
				want = NoData
			}
			got := ""
			if p != nil {
				if fe, ok := p.Body.(*FieldErrors); ok {
					got = strings.Join(fe.Messages(NonFieldErrors), "|")
				}
			}
			if got != want {
				t.Errorf("%q: got %q, DRF said %q", name, got, want)
			}
		default:
			if p != nil {
				t.Errorf("%q: refused with %+v, DRF read it", name, p)
				continue
			}
			if len(data.values) != len(b.Fields) {
				t.Errorf("%q: %d members, DRF read %d", name, len(data.values), len(b.Fields))
			}
			for key, want := range b.Fields {
				vals, fe := Serializer{{Name: key}}.Validate(data, false)
				switch {
				case want.Value != nil:
					if fe != nil || vals[key] != *want.Value {
						t.Errorf("%q: member %q is %q (errors %v), DRF made %q", name, key, vals[key], fe.Messages(key), *want.Value)
					}
				case !reflect.DeepEqual(fe.Messages(key), want.Errors):
					t.Errorf("%q: member %q has errors %q, DRF said %q", name, key, fe.Messages(key), want.Errors)
				}
			}
		}
	}
}

// The recursion a deeply nested body would need is bounded.
func TestParseJSONDepth(t *testing.T) {
	_, p := ParseJSON([]byte(`{"a":` + strings.Repeat("[", 100000)))
	if p == nil || !strings.Contains(p.Body.(map[string]string)["detail"], "maximum recursion depth exceeded while decoding a JSON array") {
		t.Errorf("got %+v", p)
	}
	if _, p := ParseJSON([]byte(`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`)); p != nil {
		t.Errorf("100 levels: %+v", p)
	}
}

func TestPyFloatRepr(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", 1.5: "1.5", 1e16: "1e+16", 1e15: "1000000000000000.0", 1e-5: "1e-05", 1e-4: "0.0001",
		123.456: "123.456", -2.5e-7: "-2.5e-07", 1.7976931348623157e308: "1.7976931348623157e+308",
		0.30000000000000004: "0.30000000000000004", 12345678901234567: "1.2345678901234568e+16",
	} {
		if got := pyFloatRepr(f); got != want {
			t.Errorf("pyFloatRepr(%v) = %q, want %q", f, got, want)
		}
	}
}

// Forms: Django's parsing of a query string, as the table of Python's
// urllib and Django's QueryDict gives it.
func TestParseFormAsDjango(t *testing.T) {
	tests := []struct {
		body string
		want map[string]string
	}{
		{"username=a&password1=", map[string]string{"username": "a", "password1": ""}},
		{"username=a&username=b", map[string]string{"username": "b"}},
		{"username=a%zz&password1=x%", map[string]string{"username": "a%zz", "password1": "x%"}},
		{"username=a;password1=x", map[string]string{"username": "a;password1=x"}},
		{"username=a+b&p=%2B", map[string]string{"username": "a b", "p": "+"}},
		{"username=%ff&p=%C3%A9", map[string]string{"username": "\ufffd", "p": "é"}},
		{"username=%e2%82", map[string]string{"username": "\ufffd"}},
		{"username&&=x&p=1=2", map[string]string{"username": "", "": "x", "p": "1=2"}},
		{"username=\xe9t\xe9", map[string]string{"username": "été"}},     // not UTF-8: read as Latin-1
		{"username=%C3%A9\xc3\xa9", map[string]string{"username": "éé"}}, // UTF-8 as it is
		{"", map[string]string{}},
	}
	for _, tt := range tests {
		d, p := ParseForm([]byte(tt.body))
		if p != nil {
			t.Errorf("%q: %+v", tt.body, p)
			continue
		}
		got := map[string]string{}
		for k, v := range d.values {
			got[k] = v.text
		}
		if !reflect.DeepEqual(got, tt.want) || !d.form {
			t.Errorf("%q: got %q, want %q", tt.body, got, tt.want)
		}
	}
	if _, p := ParseForm([]byte(strings.Repeat("a=1&", 1000) + "a=1")); p == nil || p.Status != 400 {
		t.Errorf("1001 fields: %+v, want 400", p)
	}
}

// DRF's reading of a form differs from JSON: an empty optional field is
// absent, unless it may be blank.
func TestFormEmptyOptionalField(t *testing.T) {
	s := Serializer{{Name: "username"}, {Name: "email", Optional: true}, {Name: "first_name", Optional: true, AllowBlank: true}}
	form := FormData(map[string]Value{"username": Text(" bob "), "email": Text(""), "first_name": Text("")})
	vals, fe := s.Validate(form, false)
	if fe != nil || !reflect.DeepEqual(vals, map[string]string{"username": "bob", "first_name": ""}) {
		t.Errorf("form: %v %v", vals, fe)
	}
	js, _ := ParseJSON([]byte(`{"username":" bob ","email":"","first_name":""}`))
	_, fe = s.Validate(js, false)
	if got, _ := MarshalBody(fe); string(got) != `{"email":["This field may not be blank."]}` {
		t.Errorf("JSON: %s", got)
	}
	_, fe = s.Validate(FormData(map[string]Value{"username": File()}), false)
	if got, _ := MarshalBody(fe); string(got) != `{"username":["Not a valid string."]}` {
		t.Errorf("file: %s", got)
	}
	vals, fe = s.Validate(FormData(map[string]Value{"first_name": Text("x")}), true)
	if fe != nil || !reflect.DeepEqual(vals, map[string]string{"first_name": "x"}) {
		t.Errorf("partial: %v %v", vals, fe)
	}
}

// Any body is answered without a panic, and a body Go's encoding/json
// accepts (UTF-8, not nested deeper than the bound, numbers of sane
// length) is read by Python's rules too.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"b"}`, `{"a":[1,2.5e3,{"b":null}],"c":true}`, `[`, `"\ud800"`, "\xff", `{"a":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, p := ParseJSON(body)
		if !json.Valid(body) || !utf8.Valid(body) || bytes.Count(body, []byte("["))+bytes.Count(body, []byte("{")) > maxJSONDepth || len(body) > maxIntDigits {
			return
		}
		if p != nil {
			if d, ok := p.Body.(map[string]string); ok {
				t.Errorf("%q: Go reads it, the parser says %q", body, d["detail"])
			}
		}
	})
}
