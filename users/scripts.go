package users

import (
	"slices"
	"unicode"
)

// invisible reports whether r shows as nothing, or as blank space, where
// it is graphic all the same: the default ignorable code points that are
// not format characters (the variation selectors, the combining grapheme
// joiner U+034F, the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0…)
// and the braille blank U+2800. Such a character makes a name that looks
// exactly like another.
func invisible(r rune) bool {
	return r == '\u2800' ||
		unicode.Is(unicode.Variation_Selector, r) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// scriptNames are the scripts a letter can belong to, sorted, without
// Common and Inherited (digits, punctuation, combining marks), which go
// with any script.
var scriptNames = func() []string {
	var names []string
	for name := range unicode.Scripts {
		if name != "Common" && name != "Inherited" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}()

// scriptOf returns the script of r, "" for Common and Inherited.
func scriptOf(r rune) string {
	if r < 0x80 {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	for _, name := range scriptNames {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	return ""
}

// eastAsian are the sets of scripts that one writing system mixes, and
// that may also be mixed with Latin (Unicode TS #39's "highly restrictive"
// level).
var eastAsian = [][]string{
	{"Han", "Hiragana", "Katakana"},
	{"Han", "Hangul"},
	{"Han", "Bopomofo"},
}

// mixesScripts reports whether s holds letters of more than one script,
// beyond Latin with one East Asian writing system.
func mixesScripts(s string) bool {
	var seen []string
	for _, r := range s {
		if sc := scriptOf(r); sc != "" && !slices.Contains(seen, sc) {
			seen = append(seen, sc)
		}
	}
	if len(seen) <= 1 {
		return false
	}
	seen = slices.DeleteFunc(seen, func(sc string) bool { return sc == "Latin" })
	for _, set := range eastAsian {
		if !slices.ContainsFunc(seen, func(sc string) bool { return !slices.Contains(set, sc) }) {
			return false
		}
	}
	return true
}
