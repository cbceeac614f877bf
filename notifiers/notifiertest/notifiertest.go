// Package notifiertest holds the checks every channel's tests share: no
// secret may reach an error or a log line.
package notifiertest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// NoSecret fails t when secret, or its tail (the part of a webhook URL that
// is the key), appears in any of texts.
func NoSecret(t testing.TB, secret string, texts ...string) {
	t.Helper()
	if secret == "" {
		t.Fatal("NoSecret: empty secret: the check would prove nothing")
	}
	needles := []string{secret}
	if i := strings.LastIndexAny(secret, "/_"); i >= 0 && len(secret)-i > 6 {
		needles = append(needles, secret[i+1:])
	}
	for _, text := range texts {
		for _, n := range needles {
			if strings.Contains(text, n) {
				t.Errorf("secret %q leaked into:\n%s", n, text)
			}
		}
	}
}

// Log is a slog.Logger whose output the test reads back.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer for slog's handler; Dispatch logs from several
// goroutines at once.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns every line logged so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Logger returns a debug-level text logger writing to l.
func (l *Log) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
