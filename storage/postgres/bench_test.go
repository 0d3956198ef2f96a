package postgres

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// BenchmarkRotateRefreshToken rotates refresh tokens of many sessions in
// parallel, as the refresh grant does under load: one transaction per
// rotation (PostgreSQL has no group commit here; its own commit is
// shared by the server). The throwaway cluster runs with fsync off, so
// this measures the backend and the server's CPU, not a disk.
func BenchmarkRotateRefreshToken(b *testing.B) {
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
		sess := storage.Session{ID: fmt.Sprintf("s%d", id), UserID: "u", ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		cur := storage.RefreshToken{Hash: fmt.Sprintf("s%d-0", id), SessionID: sess.ID, ClientID: "c", UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := db.CreateSession(ctx, sess, &cur); err != nil {
			b.Error(err)
			return
		}
		for i := 1; pb.Next(); i++ {
			next := cur
			next.Hash = fmt.Sprintf("s%d-%d", id, i)
			if err := db.RotateRefreshToken(ctx, cur.Hash, next, []byte("replay"), now.Add(time.Minute), now); err != nil {
				b.Error(err)
				return
			}
			cur = next
		}
	})
	b.ReportMetric(float64(db.retries.Load()), "retries")
}
