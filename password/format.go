package password

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Limits on stored hashes that did not come from this Hasher. A stored hash
// names its own cost, so a planted or corrupt one (an import file is
// attacker-shaped input) could otherwise make one login take hours or
// gigabytes. Hashes at the Hasher's own parameters are exempt, whatever the
// configuration.
const (
	maxEncodedLen      = 512
	maxArgon2MemoryKiB = 1 << 20 // 1 GiB
	maxArgon2Iters     = 100
	maxArgon2Work      = 16 << 20 // m×t in KiB·passes: 16 GiB of block processing
	minArgon2SaltLen   = 8        // RFC 9106 §3.1
	minArgon2KeyLen    = 16
	maxPBKDF2Iters     = 10_000_000
	maxBcryptCost      = 16 // 2^16 rounds: seconds; Django's default is 12
)

// storedHash is a parsed stored hash.
type storedHash interface {
	// verify reports whether pw matches, comparing in constant time.
	verify(pw string) bool
	// current reports whether the hash is what Hash would produce at p
	// (same format and parameters), so it needs no upgrade.
	current(p Params) bool
	// String gives back the exact encoding it was parsed from.
	String() string
	// kind names its format and cost parameters (not its salt or hash):
	// hashes of one kind take the same time to verify.
	kind() string
}

// ValidateHash reports whether Verify can check encoded, with the limits
// applied to imported hashes: nil for a supported format, an error wrapping
// ErrNoPassword for "" or a Django unusable password ("!…"), and one
// wrapping ErrUnknownFormat otherwise. The error never contains the hash.
func ValidateHash(encoded string) error {
	_, err := parseHash(encoded, nil)
	return err
}

// parseHash reads a stored hash. own, when not nil, are the Hasher's
// parameters: argon2 hashes at exactly those skip the import limits.
func parseHash(encoded string, own *Params) (storedHash, error) {
	switch {
	case encoded == "":
		return nil, ErrNoPassword
	case strings.HasPrefix(encoded, "!"):
		// Django's set_unusable_password: "!" and 40 random characters.
		return nil, ErrNoPassword
	case len(encoded) > maxEncodedLen:
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrUnknownFormat, maxEncodedLen)
	}
	switch scheme, rest, _ := strings.Cut(encoded, "$"); scheme {
	case "": // PHC ($argon2id$…) or modular crypt ($2b$…)
		if strings.HasPrefix(encoded, "$2") {
			return parseBcrypt("", encoded)
		}
		return parseArgon2("", encoded, own)
	case "argon2": // Django's Argon2PasswordHasher: "argon2" + PHC string
		return parseArgon2("argon2", encoded[len("argon2"):], own)
	case "bcrypt", "bcrypt_sha256": // Django: algorithm + "$" + bcrypt string
		return parseBcrypt(scheme, rest)
	case "pbkdf2_sha256", "pbkdf2_sha1":
		return parsePBKDF2(encoded)
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnknownFormat, describeScheme(scheme))
	}
}

// describeScheme names an unsupported scheme for an error message, without
// echoing anything that might be part of a secret.
func describeScheme(s string) string {
	if len(s) == 0 || len(s) > 20 {
		return "unrecognised"
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "unrecognised"
		}
	}
	return strconv.Quote(s)
}

// parseUint reads a decimal number in canonical form (no sign, no leading
// zeros, no spaces) of at most max.
func parseUint(s string, max uint64) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}

// decodeBase64 decodes s only if it is the canonical encoding of its bytes
// (the decoder alone would skip newlines and accept stray padding bits).
func decodeBase64(enc *base64.Encoding, s string) ([]byte, bool) {
	b, err := enc.DecodeString(s)
	if err != nil || enc.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// Argon2 variants x/crypto computes (argon2d is not offered there).
const (
	argon2id = "argon2id"
	argon2i  = "argon2i"
)

// argon2Hash is a PHC-format argon2 hash (the PHC string format spec,
// https://github.com/P-H-C/phc-string-format), optionally behind Django's
// "argon2" prefix. Only version 19 (0x13, RFC 9106) is accepted.
type argon2Hash struct {
	django  bool // "argon2$argon2id$…" from Django
	variant string
	params  Params
	salt    []byte
	key     []byte
}

func parseArgon2(prefix, phc string, own *Params) (storedHash, error) {
	bad := func(why string) (storedHash, error) {
		return nil, fmt.Errorf("%w: argon2: %s", ErrUnknownFormat, why)
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want $variant$v=19$m=…,t=…,p=…$salt$hash")
	}
	h := argon2Hash{django: prefix != "", variant: parts[1]}
	if h.variant != argon2id && h.variant != argon2i {
		return nil, fmt.Errorf("%w: %s", ErrUnknownFormat, describeScheme(parts[1]))
	}
	if parts[2] != "v=19" {
		return bad("only version 19 is supported")
	}
	mtp := strings.Split(parts[3], ",")
	if len(mtp) != 3 || !strings.HasPrefix(mtp[0], "m=") || !strings.HasPrefix(mtp[1], "t=") || !strings.HasPrefix(mtp[2], "p=") {
		return bad("want parameters m=…,t=…,p=…")
	}
	m, okM := parseUint(mtp[0][2:], 1<<32-1)
	t, okT := parseUint(mtp[1][2:], 1<<32-1)
	p, okP := parseUint(mtp[2][2:], 255)
	if !okM || !okT || !okP || t < 1 || p < 1 || m < 8*p {
		return bad("parameters out of range")
	}
	h.params = Params{MemoryKiB: uint32(m), Iterations: uint32(t), Parallelism: uint8(p)}
	if own == nil || h.params != *own {
		if m > maxArgon2MemoryKiB || t > maxArgon2Iters || m*t > maxArgon2Work {
			return bad("parameters ask for more work than allowed")
		}
	}
	var ok bool
	if h.salt, ok = decodeBase64(base64.RawStdEncoding, parts[4]); !ok || len(h.salt) < minArgon2SaltLen {
		return bad("invalid salt")
	}
	if h.key, ok = decodeBase64(base64.RawStdEncoding, parts[5]); !ok || len(h.key) < minArgon2KeyLen {
		return bad("invalid hash")
	}
	return h, nil
}

func (h argon2Hash) verify(pw string) bool {
	p := h.params
	var got []byte
	if h.variant == argon2id {
		got = argon2.IDKey([]byte(pw), h.salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(h.key)))
	} else {
		got = argon2.Key([]byte(pw), h.salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(h.key)))
	}
	return constantTimeEqual(got, h.key)
}

func (h argon2Hash) current(p Params) bool {
	return !h.django && h.variant == argon2id && h.params == p && len(h.salt) == saltLen && len(h.key) == keyLen
}

func (h argon2Hash) kind() string {
	return fmt.Sprintf("%s:m=%d,t=%d,p=%d,len=%d", h.variant, h.params.MemoryKiB, h.params.Iterations, h.params.Parallelism, len(h.key))
}

func (h argon2Hash) String() string {
	prefix := ""
	if h.django {
		prefix = "argon2"
	}
	return fmt.Sprintf("%s$%s$v=19$m=%d,t=%d,p=%d$%s$%s", prefix, h.variant,
		h.params.MemoryKiB, h.params.Iterations, h.params.Parallelism,
		base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
}

// bcryptHash is a modular-crypt bcrypt hash ($2a$, $2b$, $2y$), bare or
// behind Django's "bcrypt$" or "bcrypt_sha256$" prefix. Django's
// bcrypt_sha256 feeds bcrypt the hex SHA-256 of the password, to escape
// bcrypt's 72-byte limit; plain bcrypt ignores bytes past the 72nd, as every
// bcrypt does.
type bcryptHash struct {
	django string // "", "bcrypt" or "bcrypt_sha256"
	raw    string
}

const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func parseBcrypt(django, raw string) (storedHash, error) {
	bad := func(why string) (storedHash, error) {
		return nil, fmt.Errorf("%w: bcrypt: %s", ErrUnknownFormat, why)
	}
	// $2b$12$ + 22 characters of salt + 31 of hash.
	if len(raw) != 60 || raw[0] != '$' || raw[1] != '2' || raw[3] != '$' || raw[6] != '$' {
		return bad("want $2b$NN$ and 53 characters")
	}
	if raw[2] != 'a' && raw[2] != 'b' && raw[2] != 'y' {
		return bad("only versions 2a, 2b and 2y are supported")
	}
	cost, ok := parseUint(raw[4:6], maxBcryptCost)
	if raw[4] == '0' { // costs are written with two digits: "04"
		cost, ok = parseUint(raw[5:6], maxBcryptCost)
	}
	if !ok || cost < uint64(bcrypt.MinCost) {
		return bad("cost out of range")
	}
	for i := 7; i < len(raw); i++ {
		if strings.IndexByte(bcryptAlphabet, raw[i]) < 0 {
			return bad("invalid character")
		}
	}
	return bcryptHash{django: django, raw: raw}, nil
}

func (h bcryptHash) verify(pw string) bool {
	b := []byte(pw)
	if h.django == "bcrypt_sha256" {
		sum := sha256.Sum256(b)
		b = []byte(hex.EncodeToString(sum[:]))
	}
	// CompareHashAndPassword compares in constant time.
	return bcrypt.CompareHashAndPassword([]byte(h.raw), b) == nil
}

func (bcryptHash) current(Params) bool { return false }

func (h bcryptHash) kind() string { return "bcrypt:" + h.raw[4:6] }

func (h bcryptHash) String() string {
	if h.django == "" {
		return h.raw
	}
	return h.django + "$" + h.raw
}

// pbkdf2Hash is Django's PBKDF2PasswordHasher (pbkdf2_sha256) or
// PBKDF2SHA1PasswordHasher (pbkdf2_sha1) format:
// algorithm$iterations$salt$base64(hash), with the hash as long as the
// digest.
type pbkdf2Hash struct {
	alg  string
	iter int
	salt string
	key  []byte
}

func parsePBKDF2(encoded string) (storedHash, error) {
	parts := strings.Split(encoded, "$")
	alg := parts[0]
	bad := func(why string) (storedHash, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrUnknownFormat, alg, why)
	}
	if len(parts) != 4 {
		return bad("want algorithm$iterations$salt$hash")
	}
	iter, ok := parseUint(parts[1], maxPBKDF2Iters)
	if !ok || iter < 1 {
		return bad("iterations out of range")
	}
	salt := parts[2]
	if salt == "" || !utf8.ValidString(salt) {
		return bad("invalid salt")
	}
	size := sha256.Size
	if alg == "pbkdf2_sha1" {
		size = sha1.Size
	}
	key, ok := decodeBase64(base64.StdEncoding, parts[3])
	if !ok || len(key) != size {
		return bad("invalid hash")
	}
	return pbkdf2Hash{alg: alg, iter: int(iter), salt: salt, key: key}, nil
}

func (h pbkdf2Hash) verify(pw string) bool {
	var got []byte
	var err error
	if h.alg == "pbkdf2_sha1" {
		got, err = pbkdf2.Key(sha1.New, pw, []byte(h.salt), h.iter, len(h.key))
	} else {
		got, err = pbkdf2.Key(sha256.New, pw, []byte(h.salt), h.iter, len(h.key))
	}
	return err == nil && constantTimeEqual(got, h.key)
}

func (pbkdf2Hash) current(Params) bool { return false }

func (h pbkdf2Hash) kind() string { return fmt.Sprintf("%s:%d", h.alg, h.iter) }

func (h pbkdf2Hash) String() string {
	return fmt.Sprintf("%s$%d$%s$%s", h.alg, h.iter, h.salt, base64.StdEncoding.EncodeToString(h.key))
}
