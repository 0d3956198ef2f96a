package web

import (
	"go/build"
	"strings"
	"testing"
)

// view mirrors the fields the mail package passes to the templates.
type view struct {
	Subject  string
	Name     string
	Link     string
	ValidFor string
}

func TestMailTemplates(t *testing.T) {
	tmpls, err := MailTemplates()
	if err != nil {
		t.Fatalf("MailTemplates: %v", err)
	}
	for _, name := range []string{"reset", "verify"} {
		if _, ok := tmpls[name]; !ok {
			t.Errorf("MailTemplates: no %q template; got %d templates", name, len(tmpls))
		}
	}

	tests := []struct {
		name        string
		wantSubject string
		greeting    string // as text; the html escapes the name
		htmlHello   string
	}{
		{"reset", "Reset your password", "Hello Zoë <b>,", "Hello Zoë &lt;b&gt;,"},
		// A verification mail goes to an address nobody has verified yet:
		// it greets nobody by a name the account's owner typed.
		{"verify", "Confirm your email address", "Hello,", "Hello,"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mt := tmpls[tt.name]
			if mt.Text == nil || mt.HTML == nil {
				t.Fatalf("template %q: got Text %v HTML %v, want both set", tt.name, mt.Text, mt.HTML)
			}
			var subject strings.Builder
			if err := mt.Text.ExecuteTemplate(&subject, "subject", view{}); err != nil {
				t.Fatalf("execute subject: %v", err)
			}
			if got := subject.String(); got != tt.wantSubject {
				t.Errorf("subject: got %q, want %q", got, tt.wantSubject)
			}

			d := view{
				Subject:  tt.wantSubject,
				Name:     "Zoë <b>",
				Link:     "https://id.example.com/path?token=abc&x=<y>",
				ValidFor: "1 hour",
			}
			var text strings.Builder
			if err := mt.Text.Execute(&text, d); err != nil {
				t.Fatalf("execute text: %v", err)
			}
			for _, want := range []string{tt.greeting, d.Link, "within 1 hour"} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text body: got %q, want it to contain %q", text.String(), want)
				}
			}
			if strings.HasPrefix(text.String(), "\n") {
				t.Errorf("text body starts with a blank line: %q", text.String())
			}

			var html strings.Builder
			if err := mt.HTML.Execute(&html, d); err != nil {
				t.Fatalf("execute html: %v", err)
			}
			for _, want := range []string{
				"<title>" + tt.wantSubject + "</title>",
				`lang="en"`,
				tt.htmlHello, // contextual escaping of text
				`href="https://id.example.com/path?token=abc&amp;x=%3cy%3e"`, // and of the URL attribute
				"within 1 hour",
			} {
				if !strings.Contains(html.String(), want) {
					t.Errorf("html body: want it to contain %q; got\n%s", want, html.String())
				}
			}
			if tt.name == "verify" && strings.Contains(text.String()+html.String(), "Zoë") {
				t.Errorf("verification mail holds the name:\n%s\n%s", text.String(), html.String())
			}
			for _, bad := range []string{"<script", "<img", "<link", "src=", "url("} {
				if strings.Contains(html.String(), bad) {
					t.Errorf("html body contains %q: mails must not load external resources", bad)
				}
			}

			d.ValidFor = ""
			text.Reset()
			if err := mt.Text.Execute(&text, d); err != nil {
				t.Fatalf("execute text without ValidFor: %v", err)
			}
			if strings.Contains(text.String(), "within") {
				t.Errorf("text body without ValidFor: got %q, want no validity sentence", text.String())
			}
		})
	}
}

func TestMailHTMLRefusesScriptLinks(t *testing.T) {
	tmpls, err := MailTemplates()
	if err != nil {
		t.Fatalf("MailTemplates: %v", err)
	}
	var html strings.Builder
	d := view{Subject: "s", Link: "javascript:alert(1)"}
	if err := tmpls["reset"].HTML.Execute(&html, d); err != nil {
		t.Fatalf("execute html: %v", err)
	}
	if strings.Contains(html.String(), `href="javascript:`) || !strings.Contains(html.String(), `href="#ZgotmplZ"`) {
		t.Errorf("html body: got a javascript: href, want html/template to neutralise it; got\n%s", html.String())
	}
}

// TestImportsNothingOfAuthd holds the import rule: web sits at
// the bottom of the graph.
func TestImportsNothingOfAuthd(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatalf("ImportDir: %v", err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/authd/authd") || strings.Contains(imp, ".") {
			t.Errorf("web imports %q; want only the standard library", imp)
		}
	}
}
