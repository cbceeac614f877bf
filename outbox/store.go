// Package outbox keeps odoo-notify's state folder: the reports that are not
// delivered yet (one file per failed run, with its delivery to each
// channel), and the gate's dedup and rate-limit state.
//
// A oneshot handler has no retry loop that outlives it, so what a
// long-running alert router keeps in memory is kept here on disk. Every
// read-modify-write holds an exclusive flock on the folder's lock file and
// the lock is never held across network I/O. Files are written to a
// temporary name, fsynced, renamed, and the folder fsynced, so a process
// killed at any moment leaves either the old file or the new one.
package outbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/odoo-notify/odoo-notify/gate"
	"github.com/odoo-notify/odoo-notify/incident"
)

// DefaultDir is used when neither --state-dir nor $STATE_DIRECTORY is set.
const DefaultDir = "/var/lib/odoo-notify"

// Dir picks the state folder: flag, then $STATE_DIRECTORY (systemd
// StateDirectory=, which may list several folders; the first is ours), then
// DefaultDir.
func Dir(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if env, _, _ := strings.Cut(getenv("STATE_DIRECTORY"), ":"); env != "" {
		return env
	}
	return DefaultDir
}

const (
	lockName  = "lock"
	gateName  = "gate.json"
	incName   = "incidents.json"
	entryDir  = "outbox"
	entryExt  = ".json"
	claimExt  = ".claim"
	tmpPrefix = ".tmp-"
)

// Store is an open state folder.
type Store struct {
	dir   string
	log   *slog.Logger
	owner *owner
}

// owner is who the state folder belongs to when root runs odoo-notify by hand
// (`odoo-notify test`, `flush`) in the folder systemd made for the handler's
// user (StateDirectory=): what root creates there is given to that user, or
// the handler could no longer open its own lock.
type owner struct{ uid, gid int }

func folderOwner(dir string) *owner {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	return &owner{uid: int(st.Uid), gid: int(st.Gid)}
}

// own gives path to the folder's owner (see owner); a no-op otherwise.
func (s *Store) own(path string) {
	if s.owner != nil {
		if err := os.Lchown(path, s.owner.uid, s.owner.gid); err != nil {
			s.log.Warn("state: cannot give a file to the state folder's owner", "path", path, "error", err)
		}
	}
}

// Open makes sure dir and its outbox folder exist and can be written.
func Open(dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(dir, entryDir), 0o750); err != nil {
		return nil, fmt.Errorf("state: create %s: %w", dir, err)
	}
	s := &Store{dir: dir, log: log, owner: folderOwner(dir)}
	s.own(filepath.Join(dir, entryDir))
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state: open lock in %s: %w", dir, err)
	}
	f.Close()
	s.own(f.Name())
	return s, nil
}

// Path is the state folder.
func (s *Store) Path() string { return s.dir }

// lock takes the folder's exclusive lock, waiting at most until ctx ends.
// Holders only read and write local files, so the wait is milliseconds.
func (s *Store) lock(ctx context.Context) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state: open lock: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- flock(f, syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("state: lock %s: %w", f.Name(), err)
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		// The flock goroutine ends when the holder lets go; drop what it
		// gets then.
		go func() { <-done; f.Close() }()
		return nil, fmt.Errorf("state: lock %s: %w", f.Name(), ctx.Err())
	}
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// writeFile replaces path with data: temporary file, fsync, rename, fsync
// of the folder. A reader sees the old file or the new one, never half.
func (s *Store) writeFile(path string, data []byte) error {
	return s.replaceFile(path, data, true)
}

// writeFileCached replaces path with data like writeFile, without the two
// fsyncs: the file survives a killed process, not a power loss. For what a
// power loss takes anyway: journald syncs the journal only every 5 minutes
// (SyncIntervalSec=), so the failed run it tells of goes with it.
func (s *Store) writeFileCached(path string, data []byte) error {
	return s.replaceFile(path, data, false)
}

func (s *Store) replaceFile(path string, data []byte, durable bool) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o640); err != nil {
		return err
	}
	s.own(f.Name())
	if durable {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// moveAside renames a file that cannot be read to NAME.corrupt-TIME, so it
// stops every later run from tripping on it and stays for a person to look
// at.
func (s *Store) moveAside(path string, why error) {
	to := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000")
	if err := os.Rename(path, to); err != nil {
		s.log.Warn("state: a file cannot be read nor moved aside: ignoring it; remove it by hand", "path", path, "error", why, "move_error", err)
		return
	}
	_ = syncDir(filepath.Dir(path))
	s.log.Warn("state: moved a file that cannot be read aside; it is ignored from now on", "path", path, "moved_to", to, "error", why)
}

// loadGate reads the gate's state; a missing file is an empty state, a
// corrupt one is moved aside and starts afresh.
func (s *Store) loadGate() *gate.State {
	p := filepath.Join(s.dir, gateName)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return gate.New()
	}
	if err != nil {
		s.log.Warn("state: cannot read the dedup state: deciding without it", "path", p, "error", err)
		return gate.New()
	}
	st, err := gate.Decode(b)
	if err != nil {
		s.moveAside(p, err)
		return gate.New()
	}
	return st
}

func (s *Store) saveGate(st *gate.State) error {
	b, err := st.Encode()
	if err != nil {
		return err
	}
	if err := s.writeFile(filepath.Join(s.dir, gateName), b); err != nil {
		return fmt.Errorf("state: save dedup state: %w", err)
	}
	return nil
}

// loadIncidents reads the incidents' state like loadGate does the gate's.
func (s *Store) loadIncidents() *incident.State {
	p := filepath.Join(s.dir, incName)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return incident.New()
	}
	if err != nil {
		s.log.Warn("state: cannot read the incidents: deciding without them", "path", p, "error", err)
		return incident.New()
	}
	st, err := incident.Decode(b)
	if err != nil {
		s.moveAside(p, err)
		return incident.New()
	}
	return st
}

func (s *Store) saveIncidents(st *incident.State) error {
	b, err := st.Encode()
	if err != nil {
		return err
	}
	if err := s.writeFile(filepath.Join(s.dir, incName), b); err != nil {
		return fmt.Errorf("state: save incidents: %w", err)
	}
	return nil
}

// Incidents reads the incidents' state without locking: for status output
// and for choosing which units to ask systemd about.
func (s *Store) Incidents() *incident.State { return s.loadIncidents() }

// UpdateIncidents changes the incidents' state under the lock: silence and
// unsilence.
func (s *Store) UpdateIncidents(ctx context.Context, change func(*incident.State) error) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	st := s.loadIncidents()
	if err := change(st); err != nil {
		return err
	}
	return s.saveIncidents(st)
}

func (s *Store) entryPath(id string) string {
	return filepath.Join(s.dir, entryDir, id+entryExt)
}

// readEntry reads one entry; nil when it is not there (or was corrupt and
// has been moved aside).
func (s *Store) readEntry(id string) *Entry {
	p := s.entryPath(id)
	b, err := os.ReadFile(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("outbox: cannot read a report", "path", p, "error", err)
		}
		return nil
	}
	e, err := DecodeEntry(b)
	if err == nil && e.ID != id {
		err = fmt.Errorf("outbox: decode report: id %q in a file named %s", e.ID, filepath.Base(p))
	}
	if err != nil {
		s.moveAside(p, err)
		return nil
	}
	return e
}

func (s *Store) putEntry(e *Entry) error {
	b, err := e.Encode()
	if err != nil {
		return err
	}
	if err := s.writeFile(s.entryPath(e.ID), b); err != nil {
		return fmt.Errorf("outbox: save report of %s: %w", e.Report.Unit, err)
	}
	return nil
}

func (s *Store) removeEntry(id string) error {
	err := os.Remove(s.entryPath(id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: remove delivered report: %w", err)
	}
	os.Remove(filepath.Join(s.dir, entryDir, id+claimExt))
	return syncDir(filepath.Join(s.dir, entryDir))
}

// entries reads every report in the outbox, oldest first. Unreadable files
// are moved aside; temporary files left by a killed process are removed.
func (s *Store) entries() []*Entry {
	dir := filepath.Join(s.dir, entryDir)
	des, err := os.ReadDir(dir)
	if err != nil {
		s.log.Warn("outbox: cannot list", "path", dir, "error", err)
		return nil
	}
	var es []*Entry
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			if info, err := de.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
				os.Remove(filepath.Join(dir, name))
			}
		case strings.HasSuffix(name, claimExt):
			// The claim of a report that is gone, left for an hour so that
			// no live holder loses it: cleaned.
			entry := filepath.Join(dir, strings.TrimSuffix(name, claimExt)+entryExt)
			if _, err := os.Lstat(entry); errors.Is(err, os.ErrNotExist) {
				if info, err := de.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
					os.Remove(filepath.Join(dir, name))
				}
			}
		case strings.HasSuffix(name, entryExt) && !de.IsDir():
			if e := s.readEntry(strings.TrimSuffix(name, entryExt)); e != nil {
				es = append(es, e)
			}
		}
	}
	slices.SortFunc(es, func(a, b *Entry) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return es
}

// Pending lists the reports waiting in the outbox, oldest first, without
// locking: for status output and tests.
func (s *Store) Pending() []*Entry { return s.entries() }

// claim is one process's right to deliver one entry. It is a non-blocking
// flock: nobody ever waits on it, and the kernel drops it when the process
// dies (even by kill -9), so a report being sent is never sent by two
// processes at once and never stuck behind a dead one.
type claim struct{ f *os.File }

func (s *Store) tryClaim(id string) (*claim, error) {
	path := filepath.Join(s.dir, entryDir, id+claimExt)
	c, err := s.openClaim(path)
	if err != nil {
		if fi, serr := os.Lstat(path); serr == nil && fi.IsDir() {
			// A directory is never a live claim (claims are files, opened
			// for writing): an empty one is cleaned, and tried again.
			if os.Remove(path) == nil {
				s.log.Warn("outbox: removed a directory that stood where a report's claim belongs", "path", path)
				return s.openClaim(path)
			}
		}
	}
	return c, err
}

// openClaim takes the claim file at path: nil, nil when another live
// process holds it; an error that says what to fix when it cannot be taken
// for another reason (a directory, a file this user may not open).
func (s *Store) openClaim(path string) (*claim, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("outbox: cannot take the claim %s, so its report waits: %w: remove it (no odoo-notify process runs then)", path, err)
	}
	s.own(f.Name())
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("outbox: cannot lock the claim %s, so its report waits: %w: remove it", path, err)
	}
	return &claim{f: f}, nil
}

func (c *claim) release() {
	if c != nil {
		c.f.Close()
	}
}

// hashID is a short stable id of parts.
func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
