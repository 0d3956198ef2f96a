package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	vconfig "github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
)

// The OpenAPI document (openapi.json) is kept true two ways: every route
// of the account API and the admin API is in it and everything in it is a
// route (TestOpenAPIRoutes), and every answer those APIs give in this
// package's end-to-end tests is validated against its schemas
// (openAPICheck, the transport of every testEnv's client).

// documented reports whether a path belongs to the APIs the document
// describes.
func documented(path string) bool {
	return strings.HasPrefix(path, "/account/") || strings.HasPrefix(path, "/admin/v1/")
}

var (
	openAPIOnce      sync.Once
	openAPIValidator validator.Validator
	openAPIErr       error
	// openAPIMu serialises validations: tests run in parallel, and the
	// validator's caches are not documented as safe for concurrent use.
	openAPIMu sync.Mutex
)

// openAPIDocument loads the validator of the document once.
func openAPIDocument(t testing.TB) validator.Validator {
	t.Helper()
	openAPIOnce.Do(func() {
		raw, err := os.ReadFile("admin/openapi.json")
		if err != nil {
			openAPIErr = err
			return
		}
		doc, err := libopenapi.NewDocument(raw)
		if err != nil {
			openAPIErr = err
			return
		}
		v, errs := validator.NewValidator(doc, vconfig.WithFormatAssertions())
		if len(errs) > 0 {
			openAPIErr = errs[0]
			return
		}
		openAPIValidator = v
	})
	if openAPIErr != nil {
		t.Fatalf("openapi.json: %v", openAPIErr)
	}
	return openAPIValidator
}

// openAPICheck is an http.RoundTripper that validates every answer of the
// documented APIs against the document, failing the test on a mismatch.
// Answers to methods or paths that do not exist (404, 405) and CORS
// preflights are not the document's to describe.
type openAPICheck struct {
	t    testing.TB
	next http.RoundTripper
}

func (o openAPICheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(req)
	if err != nil || !documented(req.URL.Path) || req.Method == http.MethodOptions || req.Method == http.MethodHead {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	check := *resp
	check.Body = io.NopCloser(bytes.NewReader(body))
	v := openAPIDocument(o.t)
	openAPIMu.Lock()
	ok, errs := v.ValidateHttpResponse(req, &check)
	openAPIMu.Unlock()
	if !ok {
		var msgs []string
		for _, e := range errs {
			if unknownRoute(e) && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) {
				continue
			}
			msgs = append(msgs, describe(e))
		}
		if len(msgs) > 0 {
			o.t.Errorf("%s %s → %d does not match openapi.json:\n  %s\nbody: %s", req.Method, req.URL.Path, resp.StatusCode,
				strings.Join(msgs, "\n  "), body)
		}
	}
	return resp, nil
}

// unknownRoute reports whether a validation error says the path or the
// method is not in the document.
func unknownRoute(e *verrors.ValidationError) bool {
	return e.ValidationType == helpers.PathValidation || e.ValidationSubType == helpers.ValidationMissingOperation
}

func describe(e *verrors.ValidationError) string {
	s := e.Message
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	for _, f := range e.SchemaValidationErrors {
		s += "; " + f.FieldPath + ": " + f.Reason
	}
	return s
}

// The document is a valid OpenAPI 3.1 document.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	v := openAPIDocument(t)
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("openapi.json: %s", describe(e))
		}
	}
	raw, _ := os.ReadFile("admin/openapi.json")
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q (%v), want 3.1.x", doc.OpenAPI, err)
	}
}

// Every route of the account API and the admin API is in the document, and
// every operation of the document is a route; the document is served as
// is, without a token.
func TestOpenAPIRoutes(t *testing.T) {
	e := newEnv(t)
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	registered := map[string]bool{}
	for _, r := range e.srv.RouteList() {
		method, path := r[0], r[1]
		if !documented(path) || method == http.MethodOptions || method == "echo_route_not_found" {
			continue
		}
		registered[method+" "+param.ReplaceAllString(path, "{$1}")] = true
	}
	raw, err := os.ReadFile("admin/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	inDoc := map[string]bool{}
	for path, item := range doc.Paths {
		for m := range item {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				inDoc[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	for _, k := range slices.Sorted(mapKeys(registered)) {
		if !inDoc[k] {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for _, k := range slices.Sorted(mapKeys(inDoc)) {
		if !registered[k] {
			t.Errorf("openapi.json documents %s, which is not a route", k)
		}
	}
	if len(registered) < 25 {
		t.Errorf("only %d routes found; is the walk of the router broken?", len(registered))
	}

	r := e.do("GET", "/admin/v1/openapi.json", nil)
	if r.status != 200 || !bytes.Equal(r.body, raw) {
		t.Errorf("GET /admin/v1/openapi.json = %d, %d bytes; want 200 and the document", r.status, len(r.body))
	}
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
