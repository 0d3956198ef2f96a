package web

import (
	"bytes"
	"html/template"
	"io/fs"
	"strings"
	"testing"
)

func TestPages(t *testing.T) {
	pages, err := Pages(template.FuncMap{"asset": func(name string) string { return "/static/" + name }})
	if err != nil {
		t.Fatalf("Pages: %v", err)
	}
	for _, name := range []string{"signin", "register", "forgot", "reset", "verify", "account", "logout", "error"} {
		if pages[name] == nil {
			t.Errorf("Pages: no %q page; got %d pages", name, len(pages))
		}
	}
	if _, err := Pages(nil); err == nil {
		t.Errorf("Pages without an asset func: got no error, want one (the layout calls asset)")
	}
}

// The pages must work under a CSP without 'unsafe-inline': no script at
// all, no inline style, no event handler attributes, nothing from another
// origin.
func TestPageTemplatesNeedNoUnsafeCSP(t *testing.T) {
	err := fs.WalkDir(files, pagesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		lower := strings.ToLower(string(b))
		for _, bad := range []string{"<script", "<style", " style=", " onclick=", " onload=", " onsubmit=", "javascript:", "http://", "https://"} {
			if strings.Contains(lower, bad) {
				t.Errorf("%s contains %q", p, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStatic(t *testing.T) {
	css, err := fs.ReadFile(Static(), "style.css")
	if err != nil {
		t.Fatalf("style.css: %v", err)
	}
	if bytes.Contains(css, []byte("@import")) || bytes.Contains(css, []byte("url(")) {
		t.Errorf("style.css loads something else; it must stand alone")
	}
	for _, want := range []string{":focus-visible", "prefers-color-scheme", "@media (max-width"} {
		if !bytes.Contains(css, []byte(want)) {
			t.Errorf("style.css lacks %s", want)
		}
	}
}
