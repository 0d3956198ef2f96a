// Package web holds the files people see: the mail templates, and the pages
// and static assets of the hosted sign-in flow.
//
// Everything is embedded in the binary with //go:embed and parsed once at
// start-up, so a broken template stops `authd serve` at once instead of
// failing a user's request. The package imports nothing of authd's; it only
// embeds files and parses templates.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"sort"
	"strings"
	texttemplate "text/template"
)

// files is read-only after compilation.
//
//go:embed mail templates static
var files embed.FS

// Mail template file layout under mail/:
//
//	NAME.txt.tmpl   plain-text body; must define "subject" (one line)
//	NAME.html.tmpl  HTML body; must define "content", rendered inside layout
//	layout.html.tmpl  the HTML document shared by every mail
const (
	mailDir        = "mail"
	mailLayout     = "layout.html.tmpl"
	textSuffix     = ".txt.tmpl"
	htmlSuffix     = ".html.tmpl"
	subjectName    = "subject"
	htmlContentDef = "content"
)

// MailTemplate is one mail's parsed templates. Both execute with the same
// data; the mail package documents the fields it passes.
type MailTemplate struct {
	// Text renders the text/plain body when executed, and the subject line
	// through ExecuteTemplate(w, "subject", data).
	Text *texttemplate.Template
	// HTML renders the whole text/html document (the shared layout around
	// this mail's "content").
	HTML *htmltemplate.Template
}

// MailTemplates parses every mail template under mail/ and returns them by
// name ("reset" for reset.txt.tmpl and reset.html.tmpl). Each name needs
// both files, the text one must define "subject" and the HTML one
// "content"; anything missing or unparsable is an error, so call it once at
// start-up.
func MailTemplates() (map[string]MailTemplate, error) {
	entries, err := fs.ReadDir(files, mailDir)
	if err != nil {
		return nil, fmt.Errorf("web: read mail templates: %w", err)
	}
	texts := map[string]bool{}
	htmls := map[string]bool{}
	for _, e := range entries {
		switch n := e.Name(); {
		case n == mailLayout:
		case strings.HasSuffix(n, textSuffix):
			texts[strings.TrimSuffix(n, textSuffix)] = true
		case strings.HasSuffix(n, htmlSuffix):
			htmls[strings.TrimSuffix(n, htmlSuffix)] = true
		default:
			return nil, fmt.Errorf("web: unexpected file %s in mail templates", path.Join(mailDir, n))
		}
	}
	names := make([]string, 0, len(texts))
	for n := range texts {
		names = append(names, n)
	}
	for n := range htmls {
		if !texts[n] {
			return nil, fmt.Errorf("web: mail template %q has no %s", n, n+textSuffix)
		}
	}
	sort.Strings(names)

	out := make(map[string]MailTemplate, len(names))
	for _, n := range names {
		if !htmls[n] {
			return nil, fmt.Errorf("web: mail template %q has no %s", n, n+htmlSuffix)
		}
		mt, err := parseMail(n)
		if err != nil {
			return nil, err
		}
		out[n] = mt
	}
	return out, nil
}

func parseMail(name string) (MailTemplate, error) {
	textFile := path.Join(mailDir, name+textSuffix)
	// missingkey=error: a field the mail package forgot to pass fails
	// loudly instead of mailing "<no value>".
	text, err := texttemplate.New(name+textSuffix).Option("missingkey=error").ParseFS(files, textFile)
	if err != nil {
		return MailTemplate{}, fmt.Errorf("web: parse %s: %w", textFile, err)
	}
	if text.Lookup(subjectName) == nil {
		return MailTemplate{}, fmt.Errorf("web: %s does not define %q", textFile, subjectName)
	}

	htmlFile := path.Join(mailDir, name+htmlSuffix)
	html, err := htmltemplate.New(mailLayout).Option("missingkey=error").
		ParseFS(files, path.Join(mailDir, mailLayout), htmlFile)
	if err != nil {
		return MailTemplate{}, fmt.Errorf("web: parse %s: %w", htmlFile, err)
	}
	if html.Lookup(htmlContentDef) == nil {
		return MailTemplate{}, fmt.Errorf("web: %s does not define %q", htmlFile, htmlContentDef)
	}
	return MailTemplate{Text: text, HTML: html}, nil
}

// Page template file layout under templates/:
//
//	layout.html.tmpl    the HTML document every page shares; it calls the
//	                    page's "title" and "content"
//	partials.html.tmpl  fragments the pages share (form fields, alerts)
//	NAME.html.tmpl      one page; must define "title" and "content"
const (
	pagesDir     = "templates"
	pageLayout   = "layout.html.tmpl"
	pagePartials = "partials.html.tmpl"
	titleDef     = "title"
	contentDef   = "content"
)

// Pages parses every page under templates/ with the shared layout and
// partials and returns them by name ("signin" for signin.html.tmpl).
// Execute a page with Execute: it renders the whole document. funcs are
// added to the helpers the templates may call; the templates call "asset"
// (the URL of a file of Static, by its name), which funcs must provide, and
// "dict" (a map from alternating keys and values, for passing several
// values to a fragment), which Pages provides. Anything missing or
// unparsable is an error, so call it once at start-up.
//
// The pages run with missingkey=zero: an absent key of a map (a form value
// never entered, a field without a problem) is its zero value.
func Pages(funcs htmltemplate.FuncMap) (map[string]*htmltemplate.Template, error) {
	entries, err := fs.ReadDir(files, pagesDir)
	if err != nil {
		return nil, fmt.Errorf("web: read page templates: %w", err)
	}
	fm := htmltemplate.FuncMap{"dict": dict}
	for k, v := range funcs {
		fm[k] = v
	}
	out := map[string]*htmltemplate.Template{}
	for _, e := range entries {
		n := e.Name()
		if n == pageLayout || n == pagePartials {
			continue
		}
		if !strings.HasSuffix(n, htmlSuffix) {
			return nil, fmt.Errorf("web: unexpected file %s in page templates", path.Join(pagesDir, n))
		}
		file := path.Join(pagesDir, n)
		t, err := htmltemplate.New(pageLayout).Funcs(fm).Option("missingkey=zero").
			ParseFS(files, path.Join(pagesDir, pageLayout), path.Join(pagesDir, pagePartials), file)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", file, err)
		}
		for _, def := range []string{titleDef, contentDef} {
			if t.Lookup(def) == nil {
				return nil, fmt.Errorf("web: %s does not define %q", file, def)
			}
		}
		out[strings.TrimSuffix(n, htmlSuffix)] = t
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("web: no page templates")
	}
	return out, nil
}

// dict builds a map from alternating string keys and values.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// Static returns the static assets (the stylesheet), rooted at static/, to
// be served as files.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // "static" is a valid path, embedded above
	}
	return sub
}

// UI is what the pages need: their parsed templates, the static assets and
// a content hash per asset, appended to its URL so a changed stylesheet is
// fetched again despite caching.
type UI struct {
	pages        map[string]*htmltemplate.Template
	Static       fs.FS
	assetVersion map[string]string
}

// Load parses the page templates (with the asset function that versions
// asset URLs) and hashes the assets; it fails unless every page in want
// exists.
func Load(want ...string) (*UI, error) {
	ui := &UI{Static: Static(), assetVersion: map[string]string{}}
	err := fs.WalkDir(ui.Static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(ui.Static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ui.assetVersion[p] = hex.EncodeToString(sum[:5])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: static assets: %w", err)
	}
	ui.pages, err = Pages(htmltemplate.FuncMap{
		"asset": func(name string) (string, error) {
			v, ok := ui.assetVersion[name]
			if !ok {
				return "", fmt.Errorf("no static asset %q", name)
			}
			return "/static/" + name + "?v=" + v, nil
		},
	})
	if err != nil {
		return nil, err
	}
	for _, name := range want {
		if ui.pages[name] == nil {
			return nil, fmt.Errorf("web: no page template %q", name)
		}
	}
	return ui, nil
}

// Page is the template of a page, nil if there is none.
func (ui *UI) Page(name string) *htmltemplate.Template { return ui.pages[name] }

// AssetVersion is the content hash of a static asset.
func (ui *UI) AssetVersion(name string) (string, bool) {
	v, ok := ui.assetVersion[name]
	return v, ok
}
