// Package sqlcol is how the SQL backends store and read the values they
// share: times as unix nanoseconds (NULL for the zero time), optional text
// and bytes as NULL when empty.
package sqlcol

import (
	"fmt"
	"math"
	"time"
)

// Nanos is t as unix nanoseconds, clamped to the years 1678–2262 that an
// int64 holds (time.UnixNano is undefined outside them). A clamped expiry
// still compares the same way against any realistic now.
func Nanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// TimeArg is t as a column value: NULL for the zero time.
func TimeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return Nanos(t)
}

// TextArg is s as a column value: NULL for "".
func TextArg(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// BlobArg is b as a column value: NULL for an empty slice.
func BlobArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Time scans a time column into *p: NULL is the zero time, others UTC.
func Time(p *time.Time) TimeCol { return TimeCol{p} }

// TimeCol is a time column's scan destination (sql.Scanner, which pgx
// also uses for a destination of a type it does not know).
type TimeCol struct{ p *time.Time }

// Scan implements sql.Scanner.
func (c TimeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.p = time.Time{}
	case int64:
		*c.p = time.Unix(0, v).UTC()
	default:
		return fmt.Errorf("time column holds %T, not an integer", src)
	}
	return nil
}

// Text scans a nullable text column into *p: NULL is "".
func Text(p *string) TextCol { return TextCol{p} }

// TextCol is a nullable text column's scan destination.
type TextCol struct{ p *string }

// Scan implements sql.Scanner.
func (c TextCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.p = ""
	case string:
		*c.p = v
	case []byte:
		*c.p = string(v)
	default:
		return fmt.Errorf("text column holds %T", src)
	}
	return nil
}
