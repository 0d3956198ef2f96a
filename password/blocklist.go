package password

import (
	"bufio"
	"compress/gzip"
	"embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// commonPasswords is Django's django/contrib/auth/common-passwords.txt.gz
// (Django 3.2, BSD-3-Clause, see LICENSE.django): one lower-case password a
// line.
//
//go:embed common-passwords.txt.gz
var commonPasswords embed.FS

// Blocklist is Django's list of 20,000 common passwords. The zero value is
// ready to use; the list is decompressed on first use (about 1 MB in
// memory) and kept. It is safe for concurrent use and must not be copied
// after first use.
type Blocklist struct {
	once sync.Once
	set  map[string]struct{}
}

// Contains reports whether pw is on the list, compared as Django's
// CommonPasswordValidator does: lower-cased, surrounding white space
// ignored.
func (b *Blocklist) Contains(pw string) bool {
	b.once.Do(b.load)
	_, ok := b.set[strings.ToLower(strings.TrimSpace(pw))]
	return ok
}

// Len returns the number of passwords on the list.
func (b *Blocklist) Len() int {
	b.once.Do(b.load)
	return len(b.set)
}

func (b *Blocklist) load() {
	set, err := readList()
	if err != nil {
		// The list is compiled into the binary and TestBlocklist reads it;
		// failing here means a corrupt build, not bad input.
		panic(err)
	}
	b.set = set
}

func readList() (map[string]struct{}, error) {
	f, err := commonPasswords.Open("common-passwords.txt.gz")
	if err != nil {
		return nil, fmt.Errorf("password: open common-password list: %w", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("password: read common-password list: %w", err)
	}
	set := make(map[string]struct{}, 20000)
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" && utf8.ValidString(w) {
			set[w] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("password: read common-password list: %w", err)
	}
	return set, nil
}

// minSimilarLen is the shortest attribute SimilarTo looks for: shorter ones
// ("al", "jo") occur in too many good passwords.
const minSimilarLen = 3

// SimilarTo reports whether pw contains, ignoring case, one of attrs (the
// username, the email) of at least 3 characters; for an attribute holding
// an "@", the part before the last "@" (an email's local part) is what is
// looked for. This is deliberately simpler than Django's
// UserAttributeSimilarityValidator (a fuzzy ratio): it catches "alice2024"
// for user alice, and never rejects a password for resembling a name.
func SimilarTo(pw string, attrs ...string) bool {
	lpw := strings.ToLower(pw)
	for _, a := range attrs {
		if i := strings.LastIndexByte(a, '@'); i >= 0 {
			a = a[:i]
		}
		if utf8.RuneCountInString(a) < minSimilarLen {
			continue
		}
		if strings.Contains(lpw, strings.ToLower(a)) {
			return true
		}
	}
	return false
}
