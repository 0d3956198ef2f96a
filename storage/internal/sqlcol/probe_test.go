package sqlcol

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A probe's result stands for a second, a failure too; a probe cut short
// by its context is not remembered; Forget makes the next Run probe.
func TestProbe(t *testing.T) {
	p := NewProbe()
	calls := 0
	fail := errors.New("no writes")
	write := func(err error) func(time.Time) error {
		return func(time.Time) error { calls++; return err }
	}
	if err := p.Run(context.Background(), write(fail)); !errors.Is(err, fail) || calls != 1 {
		t.Fatalf("first Run = %v after %d writes, want the failure after 1", err, calls)
	}
	if err := p.Run(context.Background(), write(nil)); !errors.Is(err, fail) || calls != 1 {
		t.Errorf("Run within a second = %v after %d writes, want the remembered failure and no write", err, calls)
	}
	p.Forget()
	ctx, cancel := context.WithCancel(context.Background())
	cut := func(time.Time) error { calls++; cancel(); return context.Canceled }
	if err := p.Run(ctx, cut); !errors.Is(err, context.Canceled) {
		t.Errorf("cut Run = %v, want context.Canceled", err)
	}
	if err := p.Run(context.Background(), write(nil)); err != nil || calls != 3 {
		t.Errorf("Run after a cut probe = %v after %d writes, want a new probe (3 writes) and success", err, calls)
	}
}
