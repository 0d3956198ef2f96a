package mail_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuf collects JSON log lines; safe for concurrent use.
type logBuf struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLog() (*logBuf, *slog.Logger) {
	l := &logBuf{changed: make(chan struct{})}
	return l, slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits until the log holds substr, failing the test after 5s.
func (l *logBuf) waitFor(t *testing.T, substr string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		l.mu.Lock()
		found := strings.Contains(l.buf.String(), substr)
		changed := l.changed
		l.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("log: no %q within 5s; got\n%s", substr, l.String())
		}
	}
}

// silentListener accepts connections and never says a word, like a
// firewall that black-holes after the handshake or a hung server.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// slowServer is an SMTP server that takes delay to answer anything: each
// answer comes in time, a whole conversation does not.
func slowServer(t *testing.T, delay time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	say := func(c net.Conn, s string) bool {
		select {
		case <-time.After(delay):
		case <-done:
			return false
		}
		_, err := io.WriteString(c, s)
		return err == nil
	}
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				if !say(c, "220 slow.example ESMTP\r\n") {
					return
				}
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					reply := "250 ok\r\n"
					switch {
					case strings.HasPrefix(strings.ToUpper(line), "EHLO"):
						reply = "250-slow.example\r\n250 8BITMIME\r\n"
					case strings.HasPrefix(strings.ToUpper(line), "QUIT"):
						say(c, "221 bye\r\n")
						return
					}
					if !say(c, reply) {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		close(done)
		l.Close()
		wg.Wait()
	})
	return l.Addr().String()
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
