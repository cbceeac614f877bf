// Package state is odoo-notify's state folder: one folder on local disk
// (/var/lib/odoo-notify, systemd's StateDirectory=) that several packages
// keep their records in. Each owner names its own files and owns their
// format; this package knows none of them. It gives:
//
//   - one exclusive lock for the whole folder, taken by Update: every
//     read-modify-write of a record runs inside one. The lock is never to be
//     held across network I/O: holders only read and write local files, so a
//     wait for it is milliseconds;
//   - atomic files: WriteFile writes a temporary file, fsyncs it, renames it
//     over the old one and fsyncs the folder, so a process killed at any
//     moment (kill -9, a power loss) leaves either the old file or the new
//     one, never half of one;
//   - sub-folders of records to list and remove, and claims (a non-blocking
//     lock on one record that the kernel drops when its process dies);
//   - when root runs odoo-notify by hand in a folder that belongs to the
//     handler's user, every file root creates is given to that user.
//
// Names are slash-separated paths inside the folder ("gate.json",
// "outbox/ID.json").
package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultDir is used when neither --state-dir nor $STATE_DIRECTORY is set.
const DefaultDir = "/var/lib/odoo-notify"

// TmpPrefix starts the name of a file being written. One left by a killed
// process is not a record: a lister skips it (and may remove it once old).
const TmpPrefix = ".tmp-"

const lockName = "lock"

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

// Folder is an open state folder. Reading through it takes no lock: a
// reader sees each file whole, as it was before or after a write. A
// read-modify-write belongs in Update.
type Folder struct {
	dir   string
	log   *slog.Logger
	owner *owner
}

// Tx is the folder while Update holds its lock. An owner's function that
// writes a record shared by several processes takes a *Tx, so that it can
// only be called with the lock held.
type Tx struct {
	*Folder
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
func (f *Folder) own(path string) {
	if f.owner != nil {
		if err := os.Lchown(path, f.owner.uid, f.owner.gid); err != nil {
			f.log.Warn("state: cannot give a file to the state folder's owner", "path", path, "error", err)
		}
	}
}

// Open makes sure dir, its sub-folders subs and its lock file exist and can
// be written. log gets what cannot be fixed on the spot (a file moved
// aside); nil discards it.
func Open(dir string, log *slog.Logger, subs ...string) (*Folder, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state: create %s: %w", dir, fixHint(dir, err))
	}
	f := &Folder{dir: dir, log: log, owner: folderOwner(dir)}
	for _, sub := range subs {
		if err := f.MakeDir(sub); err != nil {
			return nil, err
		}
	}
	l, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state: open lock in %s: %w", dir, fixHint(dir, err))
	}
	l.Close()
	f.own(l.Name())
	return f, nil
}

// fixHint adds what to do to a permission error: the folder is the
// handler's user's.
func (f *Folder) fixHint(err error) error { return fixHint(f.dir, err) }

func fixHint(dir string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: run as the odoo-notify user or fix the owner (chown -R odoo-notify: %s)", err, dir)
	}
	return err
}

// Path is the state folder.
func (f *Folder) Path() string { return f.dir }

// Log is where the folder reports what it fixed or could not.
func (f *Folder) Log() *slog.Logger { return f.log }

func (f *Folder) path(name string) string { return filepath.Join(f.dir, filepath.FromSlash(name)) }

// Update runs fn holding the folder's exclusive lock (flock on its lock
// file), waiting for it at most until ctx ends. fn must not do network I/O:
// every other odoo-notify process on the host waits while it runs. The lock
// is dropped when fn returns, and by the kernel if the process dies.
func (f *Folder) Update(ctx context.Context, fn func(*Tx) error) error {
	unlock, err := f.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return fn(&Tx{f})
}

func (f *Folder) lock(ctx context.Context) (unlock func(), err error) {
	l, err := os.OpenFile(filepath.Join(f.dir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state: open lock: %w", f.fixHint(err))
	}
	done := make(chan error, 1)
	go func() { done <- flock(l, syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("state: lock %s: %w", l.Name(), err)
		}
		return func() { l.Close() }, nil
	case <-ctx.Done():
		// The flock goroutine ends when the holder lets go; drop what it
		// gets then.
		go func() { <-done; l.Close() }()
		return nil, fmt.Errorf("state: lock %s: %w", l.Name(), ctx.Err())
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

// ReadFile reads the record name. A missing one is an error that
// errors.Is(err, fs.ErrNotExist).
func (f *Folder) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(f.path(name))
}

// WriteFile replaces the record name with data (mode 0640): temporary file,
// fsync, rename, fsync of the folder. Killed at any moment, the folder holds
// the old file or the new one, never half, even after a power loss.
func (f *Folder) WriteFile(name string, data []byte) error {
	return f.replaceFile(f.path(name), data, true)
}

// WriteFileCached replaces name with data like WriteFile, without the two
// fsyncs: the file survives a killed process, not a power loss. For what a
// power loss takes anyway.
func (f *Folder) WriteFileCached(name string, data []byte) error {
	return f.replaceFile(f.path(name), data, false)
}

func (f *Folder) replaceFile(path string, data []byte, durable bool) (err error) {
	dir := filepath.Dir(path)
	t, err := os.CreateTemp(dir, TmpPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return f.fixHint(err)
	}
	defer func() {
		if err != nil {
			t.Close()
			os.Remove(t.Name())
		}
	}()
	if _, err = t.Write(data); err != nil {
		return err
	}
	if err = t.Chmod(0o640); err != nil {
		return err
	}
	f.own(t.Name())
	if durable {
		if err = t.Sync(); err != nil {
			return err
		}
	}
	if err = t.Close(); err != nil {
		return err
	}
	if err = os.Rename(t.Name(), path); err != nil {
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

// MoveAside renames a record that cannot be read to NAME.corrupt-TIME, so
// it stops every later run from tripping on it and stays for a person to
// look at; why is logged with it.
func (f *Folder) MoveAside(name string, why error) {
	path := f.path(name)
	to := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000")
	if err := os.Rename(path, to); err != nil {
		f.log.Warn("state: a file cannot be read nor moved aside: ignoring it; remove it by hand", "path", path, "error", why, "move_error", err)
		return
	}
	_ = syncDir(filepath.Dir(path))
	f.log.Warn("state: moved a file that cannot be read aside; it is ignored from now on", "path", path, "moved_to", to, "error", why)
}

// MakeDir makes the sub-folder sub (mode 0750) if it is not there.
func (f *Folder) MakeDir(sub string) error {
	p := f.path(sub)
	if err := os.MkdirAll(p, 0o750); err != nil {
		return fmt.Errorf("state: create %s: %w", p, f.fixHint(err))
	}
	f.own(p)
	return nil
}

// ReadDir lists the sub-folder sub, by name. Temporary files (TmpPrefix)
// are listed too: the owner decides when to remove them.
func (f *Folder) ReadDir(sub string) ([]fs.DirEntry, error) {
	return os.ReadDir(f.path(sub))
}

// Remove removes the record name, and syncs its folder so that the removal
// survives a power loss; one that is not there is no error.
func (f *Folder) Remove(name string) error {
	p := f.path(name)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(p))
}

// RemoveQuiet removes name without syncing nor reporting: for what is
// cleaned up (a claim, an old temporary file).
func (f *Folder) RemoveQuiet(name string) { os.Remove(f.path(name)) }

// Claim is one process's right to one record: a non-blocking flock on its
// claim file. Nobody ever waits on it, and the kernel drops it when the
// process dies (even by kill -9), so a record is never handled by two
// processes at once and never stuck behind a dead one.
type Claim struct{ f *os.File }

// TryClaim takes the claim file name: nil, nil when another live process
// holds it. A directory where the file belongs (never a live claim) is
// removed and the claim tried again.
func (f *Folder) TryClaim(name string) (*Claim, error) {
	path := f.path(name)
	c, err := f.openClaim(path)
	if err != nil {
		if fi, serr := os.Lstat(path); serr == nil && fi.IsDir() {
			if os.Remove(path) == nil {
				f.log.Warn("state: removed a directory that stood where a claim belongs", "path", path)
				return f.openClaim(path)
			}
		}
	}
	return c, err
}

func (f *Folder) openClaim(path string) (*Claim, error) {
	l, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state: cannot take the claim %s: %w: remove it (no odoo-notify process runs then)", path, f.fixHint(err))
	}
	f.own(l.Name())
	if err := flock(l, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		l.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("state: cannot lock the claim %s: %w: remove it", path, err)
	}
	return &Claim{f: l}, nil
}

// Release lets the claim go; a nil claim is a no-op.
func (c *Claim) Release() {
	if c != nil {
		c.f.Close()
	}
}

// Load reads the record name with decode, for an owner whose state is one
// file: a missing file is empty(); one that cannot be read is empty() too,
// with the warning unreadable and the error; one that decode refuses is
// moved aside (MoveAside) and is empty(). It takes no lock: a
// read-modify-write calls it inside Update.
func Load[T any](f *Folder, name, unreadable string, decode func([]byte) (T, error), empty func() T) T {
	b, err := f.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return empty()
	}
	if err != nil {
		f.log.Warn(unreadable, "path", f.path(name), "error", err)
		return empty()
	}
	v, err := decode(b)
	if err != nil {
		f.MoveAside(name, err)
		return empty()
	}
	return v
}

// Save replaces the record name with what encode gives (WriteFile), under
// the lock; what names the record in the error ("save incidents").
func Save(tx *Tx, name, what string, encode func() ([]byte, error)) error {
	b, err := encode()
	if err != nil {
		return err
	}
	if err := tx.WriteFile(name, b); err != nil {
		return fmt.Errorf("state: %s: %w", what, err)
	}
	return nil
}
