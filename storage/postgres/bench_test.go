package postgres

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// BenchmarkRotateRefresh rotates the refresh families of many sessions in
// parallel, as the refresh grant does under load: one transaction per
// rotation (PostgreSQL has no group commit here; its own commit is
// shared by the server). The throwaway cluster runs with fsync off, so
// this measures the backend and the server's CPU, not a disk.
func BenchmarkRotateRefresh(b *testing.B) {
	ctx := b.Context()
	db, err := Open(ctx, pgtestDatabase(b), Options{MaxConns: 16})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateUser(ctx, storage.User{ID: "u", Username: "u", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := seq.Add(1)
		sess := storage.Session{ID: fmt.Sprintf("s%d", id), UserID: "u", ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour),
			Refresh: &storage.RefreshFamily{Hash: "h0", Key: []byte("family key"), ExpiresAt: now.Add(time.Hour)}}
		if err := db.CreateSession(ctx, sess); err != nil {
			b.Error(err)
			return
		}
		for gen := uint64(0); pb.Next(); gen++ {
			next := storage.RefreshRotation{Hash: fmt.Sprintf("h%d", gen+1), ExpiresAt: now.Add(time.Hour),
				Replay: []byte("sealed replay"), ReplayUntil: now.Add(time.Minute)}
			if err := db.RotateRefresh(ctx, sess.ID, gen, next, now); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(db.retries.Load()), "retries")
}
