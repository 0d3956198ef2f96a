package throttle

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestSourcesRememberKnown(t *testing.T) {
	s := NewSources(10, 30*24*time.Hour)
	now := time.Unix(1_700_000_000, 0)
	alice, addr := AccountKey("alice"), AddressKey("192.0.2.7")
	if s.Known(alice, addr, now) {
		t.Fatal("a source is known before any login")
	}
	s.Remember(alice, addr, now)
	if !s.Known(alice, addr, now.Add(29*24*time.Hour)) {
		t.Error("the source is not known 29 days after its login")
	}
	if !s.Known(AccountKey("ALICE"), addr, now) {
		t.Error("the source is not known for the same account spelt in capitals")
	}
	if s.Known(AccountKey("bob"), addr, now) || s.Known(alice, AddressKey("192.0.2.8"), now) {
		t.Error("a source is known for another account, or another source for the account")
	}
	if s.Known(alice, addr, now.Add(30*24*time.Hour)) {
		t.Error("the source is still known 30 days after its login")
	}
	if s.Len() != 0 {
		t.Errorf("Len = %d after the expired entry was looked up, want 0", s.Len())
	}
	// A login from the same /64 is the same source.
	s.Remember(alice, AddressKey("2001:db8:1:2::1"), now)
	if !s.Known(alice, AddressKey("2001:db8:1:2:ffff::9"), now) {
		t.Error("another address of the same IPv6 /64 is not known")
	}
	dev := DeviceSource("cookie-secret")
	if dev == "d:cookie-secret" || dev != DeviceSource("cookie-secret") {
		t.Errorf("DeviceSource = %q: want a stable hash, not the secret", dev)
	}
}

// TestSourcesBounded: past the limit the least recently confirmed entry
// goes; a lookup does not count as a confirmation.
func TestSourcesBounded(t *testing.T) {
	s := NewSources(3, time.Hour)
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		s.Remember("u:a", fmt.Sprint(i), now.Add(time.Duration(i)*time.Second))
	}
	s.Known("u:a", "0", now) // looked up, not confirmed
	s.Remember("u:a", "1", now.Add(5*time.Second))
	s.Remember("u:a", "3", now.Add(6*time.Second))
	if s.Len() != 3 {
		t.Errorf("Len = %d, want the limit, 3", s.Len())
	}
	for src, want := range map[string]bool{"0": false, "1": true, "2": true, "3": true} {
		if got := s.Known("u:a", src, now.Add(7*time.Second)); got != want {
			t.Errorf("Known(%s) = %v, want %v", src, got, want)
		}
	}
	var nilSources *Sources
	nilSources.Remember("u:a", "0", now)
	if nilSources.Known("u:a", "0", now) || nilSources.Len() != 0 {
		t.Error("a nil Sources knows a source")
	}
}

func TestSourcesConcurrent(t *testing.T) {
	s := NewSources(50, time.Hour)
	now := time.Unix(1_700_000_000, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				src := fmt.Sprint(i % 70)
				s.Remember(fmt.Sprint("u:", g), src, now)
				s.Known(fmt.Sprint("u:", (g+1)%8), src, now)
			}
		})
	}
	wg.Wait()
	if s.Len() != 50 {
		t.Errorf("Len = %d, want 50", s.Len())
	}
}

// TestSourcesMemory checks the memory per entry the documentation gives.
func TestSourcesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100,000 entries")
	}
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewSources(n, time.Hour)
	now := time.Unix(1_700_000_000, 0)
	for i := range n {
		s.Remember(AccountKey(fmt.Sprint("user", i)), AddressKey(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per entry", per)
	if per > 250 {
		t.Errorf("%.0f bytes per entry, want at most 250", per)
	}
	runtime.KeepAlive(s)
}
