package compat

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"
)

// entry is one response of testdata/drf_messages.json.
type entry struct {
	Status  int               `json:"status"`
	Body    any               `json:"body"`
	Raw     string            `json:"raw"`
	Headers map[string]string `json:"headers"`
}

func loadEntries(t *testing.T) map[string]entry {
	t.Helper()
	b, err := os.ReadFile("testdata/drf_messages.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]entry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("testdata/drf_messages.json: %v", err)
	}
	return m
}

// fields is a body of field errors; detail one of "detail".
type fields map[string][]string

func detail(msg string) map[string]string { return map[string]string{"detail": msg} }

func nonField(msg string) fields { return fields{NonFieldErrors: {msg}} }

// TestMessagesMatchDRF checks every string of this package against what
// the real Django and DRF wrote (testdata/gen_drf_messages.py), with the
// status and the shape of the body it comes in.
func TestMessagesMatchDRF(t *testing.T) {
	challenge := map[string]string{"WWW-Authenticate": Challenge}
	want := map[string]struct {
		status  int
		body    any
		headers map[string]string
	}{
		"required":                        {400, fields{"username": {Required}, "password1": {Required}, "password2": {Required}}, nil},
		"login_required":                  {400, fields{"password": {Required}}, nil},
		"blank":                           {400, fields{"username": {Blank}}, nil},
		"username_max_length":             {400, fields{"username": {MaxLength(150)}}, nil},
		"username_invalid":                {400, fields{"username": {InvalidUsername}}, nil},
		"username_taken":                  {400, fields{"username": {UsernameTaken}}, nil},
		"email_invalid":                   {400, fields{"email": {InvalidEmail}}, nil},
		"email_taken":                     {400, fields{"email": {EmailTaken}}, nil},
		"password_too_short":              {400, fields{"password1": {PasswordTooShort(8)}}, nil},
		"password_too_common":             {400, fields{"password1": {PasswordTooCommon}}, nil},
		"password_entirely_numeric":       {400, fields{"password1": {PasswordEntirelyNumeric}}, nil},
		"password_several":                {400, fields{"password1": {PasswordTooShort(8), PasswordTooCommon, PasswordEntirelyNumeric}}, nil},
		"password_too_similar":            {400, fields{"new_password2": {PasswordTooSimilarToUsername}}, nil},
		"password_too_similar_email":      {400, fields{"new_password2": {PasswordTooSimilarToEmail}}, nil},
		"password_max_length":             {400, fields{"new_password1": {MaxLength(128)}, "new_password2": {MaxLength(128)}}, nil},
		"null":                            {400, fields{"username": {Null}}, nil},
		"not_a_string":                    {400, fields{"username": {NotAString}}, nil},
		"null_characters":                 {400, fields{"username": {NullCharacters}}, nil},
		"surrogate_characters":            {400, fields{"username": {SurrogateCharacters(0xd800)}}, nil},
		"not_a_dictionary":                {400, nonField(NotADictionary("list")), nil},
		"no_data":                         {400, nonField(NoData), nil},
		"old_password_required":           {400, fields{"old_password": {Required}}, nil},
		"old_password_invalid":            {400, fields{"old_password": {OldPasswordInvalid}}, nil},
		"reset_uid_invalid":               {400, fields{"uid": {InvalidValue}}, nil},
		"reset_token_invalid":             {400, fields{"token": {InvalidValue}}, nil},
		"login_must_include":              {400, nonField(MustInclude), nil},
		"verify_email_not_found":          {404, detail(NotFound), nil},
		"password_change_mismatch":        {400, fields{"new_password2": {PasswordChangeMismatch}}, nil},
		"password_mismatch":               {400, nonField(RegisterPasswordMismatch), nil},
		"login_failed":                    {400, nonField(BadLogin), nil},
		"jwt_refresh_expired":             {400, nonField(RefreshExpired), nil},
		"not_authenticated":               {401, detail(NotAuthenticated), challenge},
		"authentication_failed":           {401, detail(AuthenticationFailed), challenge},
		"jwt_signature_expired":           {401, detail(SignatureExpired), challenge},
		"jwt_decode_error":                {401, detail(DecodeError), challenge},
		"permission_denied":               {403, detail(PermissionDenied), nil},
		"not_found":                       {404, detail(NotFound), nil},
		"method_not_allowed":              {405, detail(MethodNotAllowed("GET")), map[string]string{"Allow": "POST, OPTIONS"}},
		"user_method_not_allowed":         {405, detail(MethodNotAllowed("DELETE")), map[string]string{"Allow": "GET, PUT, PATCH, HEAD, OPTIONS"}},
		"logout_method_not_allowed":       {405, detail(MethodNotAllowed("GET")), map[string]string{"Allow": "GET, POST, HEAD, OPTIONS"}},
		"verify_email_method_not_allowed": {405, detail(MethodNotAllowed("GET")), map[string]string{"Allow": "POST, OPTIONS, HEAD"}},
		"jwt_no_credentials":              {401, detail(NoCredentials), challenge},
		"jwt_credentials_spaces":          {401, detail(CredentialsSpaces), challenge},
		"multipart_no_boundary":           {400, detail(MultipartParseError("Invalid boundary in multipart: None")), nil},
		"unsupported_media_type":          {415, detail(UnsupportedMediaType("text/plain")), nil},
		"json_parse_error":                {400, detail(JSONParseError("Expecting value: line 1 column 14 (char 13)")), nil},
		"throttled_unknown":               {429, detail(ThrottledNoWait), nil},
		"throttled_0":                     {429, detail(Throttled(0)), nil},
		"throttled_1":                     {429, detail(Throttled(1)), map[string]string{"Retry-After": "1"}},
		"throttled_42":                    {429, detail(Throttled(42)), map[string]string{"Retry-After": "42"}},
	}
	got := loadEntries(t)
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Errorf("entries of the JSON = %q\nentries checked here = %q", g, w)
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			continue
		}
		if g.Status != w.status {
			t.Errorf("%s: status %d in the JSON, want %d", name, g.Status, w.status)
		}
		if wb := roundTrip(t, w.body); !reflect.DeepEqual(g.Body, wb) {
			t.Errorf("%s: DRF wrote %v\nthis package says %v", name, g.Body, wb)
		}
		var raw any
		if err := json.Unmarshal([]byte(g.Raw), &raw); err != nil || !reflect.DeepEqual(raw, g.Body) {
			t.Errorf("%s: raw %q is not the body (%v)", name, g.Raw, err)
		}
		if len(g.Headers) != 0 || len(w.headers) != 0 {
			if !maps.Equal(g.Headers, w.headers) {
				t.Errorf("%s: headers %v in the JSON, want %v", name, g.Headers, w.headers)
			}
		}
	}
}

// roundTrip is v as encoding/json decodes it into an any, to compare with
// the decoded JSON.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPluralForms(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{PasswordTooShort(1), "This password is too short. It must contain at least 1 character."},
		{PasswordTooShort(12), "This password is too short. It must contain at least 12 characters."},
		{Throttled(1), "Request was throttled. Expected available in 1 second."},
		{Throttled(2), "Request was throttled. Expected available in 2 seconds."},
		{MaxLength(1), "Ensure this field has no more than 1 characters."}, // DRF has no singular here
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestRetryAfterIsTheWait: the seconds in Throttled are those of the
// Retry-After header DRF sends with it.
func TestRetryAfterIsTheWait(t *testing.T) {
	for name, e := range loadEntries(t) {
		ra, ok := e.Headers["Retry-After"]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(ra)
		if err != nil {
			t.Fatalf("%s: Retry-After %q", name, ra)
		}
		if d := e.Body.(map[string]any)["detail"]; d != Throttled(n) {
			t.Errorf("%s: detail %q with Retry-After %d, want %q", name, d, n, Throttled(n))
		}
	}
}
