package outbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestThreads: a record is saved, read back by another Store on the same
// folder (another process), changed under the lock by many at once without
// losing a change, and left alone when change returns nil.
func TestThreads(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, err := b.LoadThread(ctx, "0a1b2c"); got != nil || err != nil {
		t.Fatalf("LoadThread of nothing = %q, %v; want nil, nil", got, err)
	}
	if err := a.UpdateThread(ctx, "0a1b2c", func(old []byte) ([]byte, error) {
		if old != nil {
			t.Errorf("a new thread has old %q", old)
		}
		return []byte("parent"), nil
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Go(func() {
			err := st.UpdateThread(ctx, "0a1b2c", func(old []byte) ([]byte, error) {
				return fmt.Appendf(old, " r%d", i), nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := b.UpdateThread(ctx, "0a1b2c", func([]byte) ([]byte, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	got, err := b.LoadThread(ctx, "0a1b2c")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if !strings.Contains(string(got)+" ", fmt.Sprintf(" r%d ", i)) {
			t.Errorf("change r%d was lost: %q", i, got)
		}
	}
	if !strings.HasPrefix(string(got), "parent ") {
		t.Errorf("record = %q, want the parent and every change", got)
	}
	if _, err := a.LoadThread(ctx, "../gate"); err == nil {
		t.Error("LoadThread took a path for an id")
	}
}

// TestThreadsPruned: a record unchanged for ThreadMaxAge goes when a new
// one is made; a recent one stays.
func TestThreadsPruned(t *testing.T) {
	st, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(id string) {
		if err := st.UpdateThread(ctx, id, func([]byte) ([]byte, error) { return []byte(id), nil }); err != nil {
			t.Fatal(err)
		}
	}
	put("old")
	put("recent")
	old := time.Now().Add(-ThreadMaxAge - time.Hour)
	if err := os.Chtimes(filepath.Join(st.Path(), threadDir, "old.json"), old, old); err != nil {
		t.Fatal(err)
	}
	put("new")
	for id, want := range map[string]bool{"old": false, "recent": true, "new": true} {
		got, _ := st.LoadThread(ctx, id)
		if (got != nil) != want {
			t.Errorf("thread %s kept = %v, want %v", id, got != nil, want)
		}
	}
}
