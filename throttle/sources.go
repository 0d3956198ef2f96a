package throttle

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// Sources remembers which sources (client addresses, browsers) signed in
// successfully to which accounts, so that a login from one of them can be
// told from a guess: it goes ahead of unknown sources in the hashing
// queue, and the account's and the address's failure waits, which a flood
// of guesses sets off, do not apply to it (it has a failure counter of its
// own; see SourceKey).
//
// An entry is made only by a successful login, and lasts ttl after the
// last one; at most limit entries are kept, the least recently confirmed
// going first. Lookups do not refresh an entry, so guesses cannot keep one
// alive. Entries are stored as a 128-bit hash of the account and source
// (about 130 bytes each with the map and list overhead, so 13 MB at
// 100,000), and live in memory: a restart forgets them, and people are
// unknown again until their next successful sign-in.
//
// A nil *Sources knows no source and remembers nothing.
type Sources struct {
	ttl   time.Duration
	limit int

	mu    sync.Mutex
	order list.List // *sourceEntry, most recently confirmed first
	byKey map[sourceID]*list.Element
}

type sourceID [16]byte

type sourceEntry struct {
	id sourceID
	at time.Time // the last successful login
}

// Defaults of NewLimits: a month of sign-ins, 100,000 pairs of account
// and source.
const (
	SourcesTTL   = 30 * 24 * time.Hour
	SourcesLimit = 100_000
)

// NewSources remembers at most limit pairs of account and source, each for
// ttl after its last successful login.
func NewSources(limit int, ttl time.Duration) *Sources {
	return &Sources{ttl: ttl, limit: limit, byKey: map[sourceID]*list.Element{}}
}

func sourceIDOf(account, source string) sourceID {
	h := sha256.New()
	h.Write([]byte(account))
	h.Write([]byte{0})
	h.Write([]byte(source))
	var id sourceID
	copy(id[:], h.Sum(nil))
	return id
}

// Remember records a successful login to account (an AccountKey) from
// source (an AddressKey or DeviceSource) at now.
func (s *Sources) Remember(account, source string, now time.Time) {
	if s == nil || s.limit <= 0 {
		return
	}
	id := sourceIDOf(account, source)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byKey[id]; ok {
		e.Value.(*sourceEntry).at = now
		s.order.MoveToFront(e)
		return
	}
	for s.order.Len() >= s.limit {
		s.removeLocked(s.order.Back())
	}
	s.byKey[id] = s.order.PushFront(&sourceEntry{id: id, at: now})
}

// Known reports whether source signed in successfully to account within
// the last ttl.
func (s *Sources) Known(account, source string, now time.Time) bool {
	if s == nil {
		return false
	}
	id := sourceIDOf(account, source)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byKey[id]
	if !ok {
		return false
	}
	if now.Sub(e.Value.(*sourceEntry).at) >= s.ttl {
		s.removeLocked(e)
		return false
	}
	return true
}

// Len is the number of entries kept (expired ones included until they are
// looked up or pushed out).
func (s *Sources) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

func (s *Sources) removeLocked(e *list.Element) {
	delete(s.byKey, e.Value.(*sourceEntry).id)
	s.order.Remove(e)
}

// DeviceSource is the source of a browser that holds the device cookie
// device (a random secret the sign-in page sets after a success). The
// secret itself is not kept: the source is a hash of it.
func DeviceSource(device string) string {
	sum := sha256.Sum256([]byte(device))
	return "d:" + hex.EncodeToString(sum[:16])
}

// SourceKey is the failure-counter key of a login to account from a known
// source: such a login is not held back by the account's or the address's
// count, which anyone can drive up, but by its own, so a known source
// that turns out to be shared (a NAT, a stolen cookie) still gets only the
// usual number of guesses.
func SourceKey(account, source string) string { return "s:" + account + "|" + source }
