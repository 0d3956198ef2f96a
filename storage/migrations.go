package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change of a backend: a file NNNN_name.sql,
// applied in order of NNNN. A migration is never edited once released; a
// change is a new file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads a backend's migrations from fsys (files matching
// glob) and checks that they are numbered 1, 2, 3… without gaps or
// duplicates.
func LoadMigrations(fsys fs.FS, glob string) ([]Migration, error) {
	names, err := fs.Glob(fsys, glob)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var ms []Migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migrations: %s: name is not NNNN_name.sql", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations: %s: want version %d", m.Name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("migrations: none embedded")
	}
	return ms, nil
}

// CheckVersion fails with ErrSchemaTooNew when a database at version v was
// migrated by a newer binary than one that knows up to latest.
func CheckVersion(v, latest int) error {
	if v > latest {
		return fmt.Errorf("%w: database at version %d, this binary knows up to %d", ErrSchemaTooNew, v, latest)
	}
	return nil
}
