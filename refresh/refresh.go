// Package refresh is the format of authd's refresh tokens: a family of
// tokens, one per generation, that the server can check against a single
// row of constant size however many times the family has rotated.
//
// # Format
//
// A token is Prefix followed by the unpadded base64url encoding of
//
//	version (1 byte, 2)
//	length of the family id (1 byte, 1 to MaxFamilyID)
//	family id (base64url characters; authd uses the session id)
//	generation (8 bytes, big-endian)
//	r (32 random bytes, new for every token)
//	tag (16 bytes)
//
// where tag is HMAC-SHA256 under the family key (KeySize random bytes,
// one per family) of "authd refresh v2" followed by every byte before the
// tag, truncated to 16 bytes. A token of a 22-character session id is 117
// characters long; none is longer than MaxLength.
//
// The server keeps, for each family: the hex SHA-256 of r of the current
// generation (Parsed.Hash), the current generation number and the family
// key. A rotation replaces the hash and increments the generation; nothing
// is kept of older generations.
//
// # Why this is safe
//
// A token is accepted as the current one only when its tag verifies under
// the family key, its generation is the family's current generation and
// SHA-256 of its r equals the stored hash. Each part of that has a reason:
//
//   - A copy of the database yields no usable token. It holds SHA-256(r)
//     of the current token, not r; r is 256 random bits, so finding a
//     preimage is out of reach, and without r no token passes the hash
//     check. The family key in the same row lets a thief compute tags, but
//     a tag alone is worth nothing for the current generation.
//   - The family key lets the server recognise any older generation of the
//     family as its own without storing it: an older generation with a
//     genuine tag can only be a token the server minted for that family
//     earlier. Presenting one is reuse of a rotated token, the mark of a
//     stolen token (RFC 9700 §4.14.2), and ends the family.
//   - A token whose tag does not verify is merely invalid and ends nothing.
//     The family id is no secret (access tokens carry the session id as
//     sid), so without this rule anyone who saw an access token could end
//     its family by sending a made-up "older generation". The tag is 128
//     bits of HMAC-SHA256 under a 256-bit key: it cannot be guessed, and a
//     tag of one family says nothing about another's key.
//   - At worst, a thief holding a copy of the database (and so the family
//     keys) can forge tags of older generations and END families. That is
//     a denial of service a database thief has anyway; continuing a family
//     still needs an r that the database does not hold.
//
// Parse is strict (exact length, canonical base64url, the alphabet only,
// no line breaks) so that one token has one spelling: a token and any
// variant of it are either the same token or invalid, and a variant can
// never look like an older generation.
package refresh

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

const (
	// Prefix starts every token of this format, so that a token found in a
	// log or a repository can be recognised.
	Prefix = "authd_rt2_"
	// KeySize is the size of a family key in bytes.
	KeySize = 32
	// MaxFamilyID is the longest family id a token can carry.
	MaxFamilyID = 64
	// MaxLength is the length of the longest token.
	MaxLength = len(Prefix) + (4*(fixedSize+MaxFamilyID)+2)/3

	version = 2
	genSize = 8
	rSize   = 32
	tagSize = 16
	// fixedSize is the payload without the family id.
	fixedSize = 2 + genSize + rSize + tagSize
	// legacyLength is the length of a token of the format before this one:
	// 32 random bytes, unpadded base64url.
	legacyLength = 43
)

// tagLabel separates these tags from any other use of the family key.
const tagLabel = "authd refresh v2"

// ErrMalformed is the error of Parse for anything that is not a token of
// this format.
var ErrMalformed = errors.New("refresh: malformed token")

// NewFamilyKey returns a new random family key of KeySize bytes.
func NewFamilyKey() []byte {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return k
}

// Mint makes a new token of generation gen of the family familyID under
// the family key, and returns it with its hash, the hex SHA-256 of its
// random part: what the server stores for the family's current generation.
//
// Mint panics when familyID is not 1 to MaxFamilyID base64url characters
// or key is not KeySize bytes: both come from the server, never from a
// request.
func Mint(familyID string, gen uint64, key []byte) (token, hash string) {
	if !validFamilyID(familyID) {
		panic(fmt.Sprintf("refresh: family id %q is not 1 to %d base64url characters", familyID, MaxFamilyID))
	}
	if len(key) != KeySize {
		panic(fmt.Sprintf("refresh: family key of %d bytes, want %d", len(key), KeySize))
	}
	b := make([]byte, 0, fixedSize+len(familyID))
	b = append(b, version, byte(len(familyID)))
	b = append(b, familyID...)
	b = binary.BigEndian.AppendUint64(b, gen)
	var r [rSize]byte
	_, _ = rand.Read(r[:])
	b = append(b, r[:]...)
	b = append(b, computeTag(key, b)...)
	return Prefix + base64.RawURLEncoding.EncodeToString(b), hashOf(r[:])
}

// Parsed is a token that has the shape of this format. Its tag has not
// been checked: call Genuine with the family's key.
type Parsed struct {
	// FamilyID is the family (session) the token names.
	FamilyID string
	// Generation is the token's place in its family.
	Generation uint64

	signed []byte // the payload up to the tag
	r      []byte
	tag    []byte
}

// Parse decodes a token of this format. Anything else, including any other
// spelling of a token, fails with ErrMalformed. It checks the shape only:
// a token that parses may still be forged (see Genuine).
func Parse(tok string) (Parsed, error) {
	if len(tok) > MaxLength || !strings.HasPrefix(tok, Prefix) {
		return Parsed{}, ErrMalformed
	}
	body := tok[len(Prefix):]
	// The decoder skips line breaks, so the alphabet is checked first.
	if !isBase64URL(body) {
		return Parsed{}, ErrMalformed
	}
	// Strict refuses non-zero trailing bits: one spelling per token.
	b, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(b) < fixedSize+1 || b[0] != version {
		return Parsed{}, ErrMalformed
	}
	n := int(b[1])
	if n < 1 || n > MaxFamilyID || len(b) != fixedSize+n {
		return Parsed{}, ErrMalformed
	}
	fid := string(b[2 : 2+n])
	if !validFamilyID(fid) {
		return Parsed{}, ErrMalformed
	}
	rest := b[2+n:]
	end := len(b) - tagSize
	return Parsed{
		FamilyID:   fid,
		Generation: binary.BigEndian.Uint64(rest[:genSize]),
		signed:     b[:end],
		r:          rest[genSize : genSize+rSize],
		tag:        b[end:],
	}, nil
}

// Genuine reports whether the token's tag verifies under key: whether the
// server minted this token for the family. The comparison takes the same
// time wherever the tags differ. A key of the wrong size is never genuine.
func (p Parsed) Genuine(key []byte) bool {
	if len(key) != KeySize || len(p.tag) != tagSize {
		return false
	}
	return hmac.Equal(computeTag(key, p.signed), p.tag)
}

// Hash is the hex SHA-256 of the token's random part, to compare with the
// hash stored for the family's current generation.
func (p Parsed) Hash() string { return hashOf(p.r) }

// Legacy reports whether tok has the shape of a refresh token of the format
// before this one: 43 base64url characters (32 random bytes), stored by the
// hex SHA-256 of the whole string.
func Legacy(tok string) bool {
	if len(tok) != legacyLength || !isBase64URL(tok) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	return err == nil
}

func computeTag(key, signed []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tagLabel))
	m.Write(signed)
	return m.Sum(nil)[:tagSize]
}

func hashOf(r []byte) string {
	sum := sha256.Sum256(r)
	return hex.EncodeToString(sum[:])
}

func validFamilyID(s string) bool {
	return len(s) >= 1 && len(s) <= MaxFamilyID && isBase64URL(s)
}

// isBase64URL reports whether s holds only characters of the base64url
// alphabet (RFC 4648 §5), without padding.
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
