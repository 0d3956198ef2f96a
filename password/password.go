// Package password hashes and verifies user passwords and holds the rules a
// new password must meet.
//
// New hashes are argon2id (RFC 9106) in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash). Verify also accepts the formats a
// Django user table brings along (bcrypt, bcrypt_sha256, pbkdf2_sha256,
// pbkdf2_sha1, Django's argon2) and argon2 hashes at other parameters, and
// says when a hash should be replaced by one at the current parameters.
// Failed verifications are padded to the time of the slowest kind of
// stored hash seen, so that an imported hash does not give its account
// away by timing (see pad.go).
//
// Every hash and verification, including the dummy one run for unknown
// users, takes a slot of a semaphore, so a flood of logins cannot use more
// than MaxConcurrent × the argon2 memory at once; a call that cannot get a
// slot in time fails with ErrBusy instead of queueing without bound. The
// queue has two priorities and per-source caps (see Caller), so that the
// login of a person with a history of success is not stuck behind a flood
// of guesses.
//
// The common-password list is Django's (20,000 passwords, compiled by Royce
// Williams), shipped in common-passwords.txt.gz under Django's BSD-3-Clause
// licence; see LICENSE.django.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Sentinel errors; test them with errors.Is.
var (
	// ErrBusy means no hashing slot was free within Options.QueueWait (or
	// the context ended first). The HTTP layer answers 503 with Retry-After.
	ErrBusy = errors.New("password: too many password hashes in progress")
	// ErrTooShort means the password has fewer than Options.MinLength
	// characters.
	ErrTooShort = errors.New("password: too short")
	// ErrTooLong means the password has more than Options.MaxLength
	// characters.
	ErrTooLong = errors.New("password: too long")
	// ErrInvalid means the password is not valid UTF-8.
	ErrInvalid = errors.New("password: not valid UTF-8")
	// ErrCommon means the password is on the common-password list.
	ErrCommon = errors.New("password: too common")
	// ErrSimilar means the password contains the username or the email's
	// local part.
	ErrSimilar = errors.New("password: too similar to the username or email")
	// ErrUnknownFormat means a stored hash is in no format this package
	// verifies, or is malformed, or asks for more work than it allows.
	ErrUnknownFormat = errors.New("password: unknown or malformed hash format")
	// ErrNoPassword means the stored hash is "" or a Django unusable password
	// ("!…"): the account cannot log in with a password.
	ErrNoPassword = errors.New("password: account has no usable password")
)

// Params are argon2id parameters (RFC 9106 §3.1).
type Params struct {
	// MemoryKiB is the memory size m in KiB. Default 19456 (19 MiB).
	MemoryKiB uint32
	// Iterations is the number of passes t. Default 2.
	Iterations uint32
	// Parallelism is the number of lanes p. Default 1.
	Parallelism uint8
}

// DefaultParams returns the parameters of new hashes when none are
// configured: OWASP's argon2id recommendation, m=19456 KiB, t=2, p=1.
func DefaultParams() Params {
	return Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}
}

// Limits on configured parameters; they match config's validation.
const (
	maxConfigMemoryKiB  = 4 << 20 // 4 GiB
	maxConfigIterations = 100
)

func (p Params) validate() error {
	if p.Parallelism < 1 {
		return fmt.Errorf("password: argon2 parallelism must be at least 1, got %d", p.Parallelism)
	}
	// RFC 9106 §3.1: m must be at least 8p KiB.
	if p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > maxConfigMemoryKiB {
		return fmt.Errorf("password: argon2 memory must be between 8×parallelism and %d KiB, got %d", maxConfigMemoryKiB, p.MemoryKiB)
	}
	if p.Iterations < 1 || p.Iterations > maxConfigIterations {
		return fmt.Errorf("password: argon2 iterations must be between 1 and %d, got %d", maxConfigIterations, p.Iterations)
	}
	return nil
}

// Options configure a Hasher. The zero value of each field means its
// default.
type Options struct {
	// Params of new hashes. Default DefaultParams().
	Params Params
	// MinLength is the fewest characters (runes) a new password may have.
	// Default 8.
	MinLength int
	// MaxLength is the most characters (runes) a password may have, new or
	// at login. Default 256; at most 4096.
	MaxLength int
	// MaxConcurrent is how many hashes or verifications run at once.
	// Default runtime.NumCPU().
	MaxConcurrent int
	// QueueWait is how long a call waits for a free slot before it fails
	// with ErrBusy. Default 2s.
	QueueWait time.Duration
	// MaxPerKey is how many calls charged to one key (see Caller.Keys)
	// may run or wait at once. Default 2: a person signs in once at a
	// time, and a second call covers a double submit.
	MaxPerKey int
	// MaxQueued is how many Low calls (see Caller.Low) may wait. Default
	// 0: as many as the slots finish within QueueWait at the pace of the
	// recent hashes.
	MaxQueued int
}

// Salt and key sizes of new argon2id hashes (RFC 9106 §3.1 recommends a
// 128-bit salt; a 256-bit tag).
const (
	saltLen = 16
	keyLen  = 32
)

const maxMaxLength = 4096

// Hasher hashes and verifies passwords under a concurrency bound. It is safe
// for concurrent use.
type Hasher struct {
	params Params
	minLen int
	maxLen int
	slots  *limiter
	common Blocklist
	dummy  argon2Hash          // verified against for unknown users
	costs  costs               // what verifications take, to pad failures (pad.go)
	padded func(time.Duration) // tests: called with each padding
}

// New returns a Hasher for opts. It checks the options and computes, once,
// the argon2id hash that VerifyDummy compares against.
func New(opts Options) (*Hasher, error) {
	if opts.Params == (Params{}) {
		opts.Params = DefaultParams()
	}
	if err := opts.Params.validate(); err != nil {
		return nil, err
	}
	if opts.MinLength == 0 {
		opts.MinLength = 8
	}
	if opts.MaxLength == 0 {
		opts.MaxLength = 256
	}
	if opts.MinLength < 1 || opts.MaxLength < opts.MinLength || opts.MaxLength > maxMaxLength {
		return nil, fmt.Errorf("password: lengths must satisfy 1 ≤ min ≤ max ≤ %d, got min %d, max %d", maxMaxLength, opts.MinLength, opts.MaxLength)
	}
	if opts.MaxConcurrent == 0 {
		opts.MaxConcurrent = runtime.NumCPU()
	}
	if opts.MaxConcurrent < 0 {
		return nil, fmt.Errorf("password: max concurrent must not be negative, got %d", opts.MaxConcurrent)
	}
	if opts.QueueWait == 0 {
		opts.QueueWait = 2 * time.Second
	}
	if opts.QueueWait < 0 {
		return nil, fmt.Errorf("password: queue wait must not be negative, got %s", opts.QueueWait)
	}
	if opts.MaxPerKey == 0 {
		opts.MaxPerKey = 2
	}
	if opts.MaxPerKey < 0 || opts.MaxQueued < 0 {
		return nil, fmt.Errorf("password: max per key and max queued must not be negative, got %d and %d", opts.MaxPerKey, opts.MaxQueued)
	}
	h := &Hasher{
		params: opts.Params,
		minLen: opts.MinLength,
		maxLen: opts.MaxLength,
		slots:  newLimiter(opts.MaxConcurrent, opts.QueueWait, opts.MaxPerKey, opts.MaxQueued),
	}
	// The dummy is a real hash of a random password at the current
	// parameters, so verifying against it costs what a wrong password for an
	// existing, current-format user costs. Its time is the first estimate
	// of how long a slot is held.
	var secret [32]byte
	rand.Read(secret[:])
	start := time.Now()
	h.dummy = h.newArgon2(base64.RawStdEncoding.EncodeToString(secret[:]))
	h.slots.hold = time.Since(start)
	h.costs.observeOwn(h.slots.hold)
	// Load the common-password list now: a broken build fails at start-up,
	// not at some user's registration.
	h.common.Len()
	return h, nil
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// newArgon2 hashes pw with a fresh salt at the current parameters. The
// caller holds a slot.
func (h *Hasher) newArgon2(pw string) argon2Hash {
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails (crypto/rand, Go 1.24+)
	key := argon2.IDKey([]byte(pw), salt, h.params.Iterations, h.params.MemoryKiB, h.params.Parallelism, keyLen)
	return argon2Hash{variant: argon2id, params: h.params, salt: salt, key: key}
}

// Hash checks pw with CheckLength and returns its argon2id hash at the
// current parameters, as a PHC string:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with the 16-byte salt and 32-byte hash in unpadded standard base64. It
// fails with ErrBusy when no slot is free in time (see Caller for the
// order of the queue).
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.CheckLength(pw); err != nil {
		return "", err
	}
	t, err := h.slots.acquire(ctx, callerOf(ctx))
	if err != nil {
		return "", err
	}
	defer h.slots.release(t)
	start := time.Now()
	enc := h.newArgon2(pw).String()
	h.costs.observeOwn(time.Since(start))
	return enc, nil
}

// Verify reports whether pw matches the stored hash encoded, and whether
// encoded should be replaced by Hash(pw) (other argon2 parameters, or an
// imported format); needsRehash is only ever true when ok is.
//
// It fails with ErrUnknownFormat (ok false, no hashing done) for a hash it
// cannot read or whose cost is beyond the limits on imported hashes
// (argon2: m ≤ 1 GiB, t ≤ 100, m×t ≤ 16 GiB; pbkdf2: ≤ 10,000,000
// iterations; bcrypt: cost ≤ 16; hashes at the Hasher's own parameters are
// always read), with ErrNoPassword for "" or a Django unusable password
// (after the same work as a wrong password, so such accounts do not stand
// out by timing), with ErrTooLong for a password longer than MaxLength
// (before any hashing), and with ErrBusy when no slot is free in time (see
// Caller for the order of the queue).
//
// A wrong password is answered no sooner than the slowest kind of stored
// hash the Hasher has verified would take (see pad.go), so that a hash
// imported in a slower format does not show its account exists.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (ok, needsRehash bool, err error) {
	if err := h.checkMax(pw); err != nil {
		return false, false, err
	}
	stored, err := parseHash(encoded, &h.params)
	if errors.Is(err, ErrNoPassword) {
		if derr := h.VerifyDummy(ctx, pw); derr != nil {
			return false, false, derr
		}
		return false, false, err
	}
	if err != nil {
		return false, false, err
	}
	t, err := h.slots.acquire(ctx, callerOf(ctx))
	if err != nil {
		return false, false, err
	}
	start := time.Now()
	ok = stored.verify(pw)
	took := time.Since(start)
	h.slots.release(t)
	current := stored.current(h.params)
	if current {
		h.costs.observeOwn(took)
	} else {
		h.costs.observe(stored.kind(), took)
	}
	if !ok {
		h.pad(ctx, start)
		return false, false, nil
	}
	return true, !current, nil
}

// VerifyDummy does the work of Verify for a wrong password against a
// current-format hash, padded as Verify pads a failure, and returns nothing
// useful: the login path calls it for an unknown username so that the
// answer takes as long as for a known one (and so that it fails, with
// ErrBusy or ErrTooLong, exactly when Verify would).
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	if err := h.checkMax(pw); err != nil {
		return err
	}
	t, err := h.slots.acquire(ctx, callerOf(ctx))
	if err != nil {
		return err
	}
	// The result is discarded; the comparison still runs so the cost
	// matches Verify's.
	start := time.Now()
	h.dummy.verify(pw)
	h.costs.observeOwn(time.Since(start))
	h.slots.release(t)
	h.pad(ctx, start)
	return nil
}

// QueueWait is how long a call waits for a slot before it fails with
// ErrBusy.
func (h *Hasher) QueueWait() time.Duration { return h.slots.wait }

// Capacity is how many hashes the slots finish within the queue wait at
// the pace of the recent ones (at least one per slot): more calls than
// that at once, and some are bound to fail with ErrBusy.
func (h *Hasher) Capacity() int {
	h.slots.mu.Lock()
	defer h.slots.mu.Unlock()
	return h.slots.capacityLocked()
}

// Stats reports the calls holding a slot now and the calls waiting for
// one, for metrics.
func (h *Hasher) Stats() (inFlight, waiting int) {
	return h.slots.stats()
}

// CheckLength checks that pw is valid UTF-8 (ErrInvalid) of MinLength to
// MaxLength characters, counted in runes (ErrTooShort, ErrTooLong). Hash
// calls it first; a very long password fails in time linear in MaxLength,
// whatever its size.
func (h *Hasher) CheckLength(pw string) error {
	if len(pw) > utf8.UTFMax*h.maxLen {
		return fmt.Errorf("%w: at most %d characters", ErrTooLong, h.maxLen)
	}
	if !utf8.ValidString(pw) {
		return ErrInvalid
	}
	n := utf8.RuneCountInString(pw)
	if n < h.minLen {
		return fmt.Errorf("%w: at least %d characters", ErrTooShort, h.minLen)
	}
	if n > h.maxLen {
		return fmt.Errorf("%w: at most %d characters", ErrTooLong, h.maxLen)
	}
	return nil
}

// checkMax is the only length rule at login: passwords set under an older,
// laxer minimum must still work, but nothing longer than MaxLength is hashed.
func (h *Hasher) checkMax(pw string) error {
	if len(pw) > utf8.UTFMax*h.maxLen || utf8.RuneCountInString(pw) > h.maxLen {
		return fmt.Errorf("%w: at most %d characters", ErrTooLong, h.maxLen)
	}
	return nil
}

// MinLength returns the fewest characters a new password may have, for
// messages.
func (h *Hasher) MinLength() int { return h.minLen }

// MaxLength returns the most characters a password may have.
func (h *Hasher) MaxLength() int { return h.maxLen }

// IsCommon reports whether pw is on Django's common-password list, compared
// as Django does: lower-cased, surrounding white space ignored.
func (h *Hasher) IsCommon(pw string) bool {
	return h.common.Contains(pw)
}

// Validate applies every rule a new password must meet, in order: length
// (CheckLength), similarity to the user's attributes (ErrSimilar, see
// SimilarTo) and the common-password list (ErrCommon). attrs are the
// username and email the password must not contain.
func (h *Hasher) Validate(pw string, attrs ...string) error {
	if err := h.CheckLength(pw); err != nil {
		return err
	}
	if SimilarTo(pw, attrs...) {
		return ErrSimilar
	}
	if h.IsCommon(pw) {
		return ErrCommon
	}
	return nil
}

// constantTimeEqual compares two derived keys without leaking, by timing,
// how long a prefix of a guess matched.
func constantTimeEqual(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
