package outbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
	"github.com/odoo-notify/odoo-notify/state"
)

// threadDir holds, per incident thread on a channel that threads (a Slack
// app), what the channel remembers of it: one file per thread id.
const threadDir = "threads"

// ThreadMaxAge is how long a thread's record is kept after its last
// change: a follow-up later than that starts a message of its own.
const ThreadMaxAge = 90 * 24 * time.Hour

var threadIDRE = lazyre.New(`^[A-Za-z0-9_-]{1,128}$`)

func (s *Store) threadPath(id string) (string, error) {
	if !threadIDRE.MatchString(id) {
		return "", fmt.Errorf("state: %q is not a thread id", id)
	}
	return threadDir + "/" + id + entryExt, nil
}

// LoadThread returns the record saved under id, nil when there is none. It
// takes no lock: records are replaced whole (state's WriteFile), never in
// place.
func (s *Store) LoadThread(_ context.Context, id string) ([]byte, error) {
	p, err := s.threadPath(id)
	if err != nil {
		return nil, err
	}
	b, err := s.f.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: read thread: %w", err)
	}
	return b, nil
}

// UpdateThread replaces the record under id with change(old) under the
// state folder's lock; change returning nil leaves it. A new record prunes
// the ones unchanged for ThreadMaxAge.
func (s *Store) UpdateThread(ctx context.Context, id string, change func(old []byte) ([]byte, error)) error {
	p, err := s.threadPath(id)
	if err != nil {
		return err
	}
	return s.f.Update(ctx, func(tx *state.Tx) error {
		old, err := tx.ReadFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("state: read thread: %w", err)
		}
		b, err := change(old)
		if err != nil || b == nil {
			return err
		}
		if old == nil {
			if err := tx.MakeDir(threadDir); err != nil {
				return err
			}
			s.pruneThreads(time.Now())
		}
		if err := tx.WriteFile(p, b); err != nil {
			return fmt.Errorf("state: save thread: %w", err)
		}
		return nil
	})
}

// pruneThreads removes the records unchanged for ThreadMaxAge, and
// temporary files a killed process left.
func (s *Store) pruneThreads(now time.Time) {
	des, err := s.f.ReadDir(threadDir)
	if err != nil {
		return
	}
	for _, de := range des {
		info, err := de.Info()
		if err != nil || de.IsDir() {
			continue
		}
		age := now.Sub(info.ModTime())
		if (strings.HasSuffix(de.Name(), entryExt) && age > ThreadMaxAge) || (strings.HasPrefix(de.Name(), tmpPrefix) && age > time.Hour) {
			s.f.RemoveQuiet(threadDir + "/" + de.Name())
		}
	}
}
