// Package outbox keeps, in the state folder (package state), the reports
// that are not delivered yet: one file per failed run, with its delivery to
// each channel. The Sender decides with the gate and the incidents, whose
// records are their own (gate.Load, incident.Load), and delivers.
//
// A oneshot handler has no retry loop that outlives it, so what a
// long-running alert router keeps in memory is kept here on disk. Every
// read-modify-write runs in the folder's Update, which is never held across
// network I/O; every file is replaced atomically, so a process killed at
// any moment leaves either the old file or the new one.
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
	"time"

	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/state"
)

const (
	entryDir  = "outbox"
	entryExt  = ".json"
	claimExt  = ".claim"
	tmpPrefix = state.TmpPrefix
)

// Store is the outbox's part of an open state folder: its entries (and the
// records kept with them: failed runs, threads, the last deliveries). The
// gate's and the incidents' records are theirs (gate.Load, incident.Load).
type Store struct {
	f   *state.Folder
	dir string
	log *slog.Logger
}

// Open makes sure dir and its outbox folder exist and can be written.
func Open(dir string, log *slog.Logger) (*Store, error) {
	f, err := state.Open(dir, log, entryDir)
	if err != nil {
		return nil, err
	}
	return &Store{f: f, dir: dir, log: f.Log()}, nil
}

// Path is the state folder.
func (s *Store) Path() string { return s.dir }

// Folder is the state folder the store is kept in.
func (s *Store) Folder() *state.Folder { return s.f }

// Incidents reads the incidents' state without locking: for status output
// and for choosing which units to ask systemd about.
func (s *Store) Incidents() *incident.State { return incident.Load(s.f) }

// UpdateIncidents changes the incidents' state under the lock: silence and
// unsilence.
func (s *Store) UpdateIncidents(ctx context.Context, change func(*incident.State) error) error {
	return s.f.Update(ctx, func(tx *state.Tx) error {
		st := incident.Load(tx.Folder)
		if err := change(st); err != nil {
			return err
		}
		return incident.Save(tx, st)
	})
}

func entryName(id string) string { return entryDir + "/" + id + entryExt }

func (s *Store) entryPath(id string) string {
	return filepath.Join(s.dir, entryDir, id+entryExt)
}

// readEntry reads one entry; nil when it is not there (or was corrupt and
// has been moved aside).
func (s *Store) readEntry(id string) *Entry {
	p := s.entryPath(id)
	b, err := s.f.ReadFile(entryName(id))
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
		s.f.MoveAside(entryName(id), err)
		return nil
	}
	return e
}

func (s *Store) putEntry(e *Entry) error {
	b, err := e.Encode()
	if err != nil {
		return err
	}
	if err := s.f.WriteFile(entryName(e.ID), b); err != nil {
		return fmt.Errorf("outbox: save report of %s: %w", e.Report.Unit, err)
	}
	return nil
}

func (s *Store) removeEntry(id string) error {
	if err := s.f.Remove(entryName(id)); err != nil {
		return fmt.Errorf("outbox: remove delivered report: %w", err)
	}
	// The claim goes after the entry: one removed first could be taken
	// afresh by another process while the entry is still there.
	s.f.RemoveQuiet(entryDir + "/" + id + claimExt)
	return nil
}

// entries reads every report in the outbox, oldest first. Unreadable files
// are moved aside; temporary files left by a killed process are removed.
func (s *Store) entries() []*Entry {
	dir := filepath.Join(s.dir, entryDir)
	des, err := s.f.ReadDir(entryDir)
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
				s.f.RemoveQuiet(entryDir + "/" + name)
			}
		case strings.HasSuffix(name, claimExt):
			// The claim of a report that is gone, left for an hour so that
			// no live holder loses it: cleaned.
			entry := filepath.Join(dir, strings.TrimSuffix(name, claimExt)+entryExt)
			if _, err := os.Lstat(entry); errors.Is(err, os.ErrNotExist) {
				if info, err := de.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
					s.f.RemoveQuiet(entryDir + "/" + name)
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

// tryClaim takes this process's right to deliver the entry id (see
// state.Claim): nil, nil when another live process has it.
func (s *Store) tryClaim(id string) (*state.Claim, error) {
	return s.f.TryClaim(entryDir + "/" + id + claimExt)
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
