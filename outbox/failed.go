package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// failedDir holds the failed runs the hook recorded and no handler has
// reported yet.
const failedDir = "failed"

// Failed is what the hook (ExecStopPost=) knows of a failed run, saved
// before it starts the handler: if the handler is killed before it saved
// anything, a later run or flush still reports the run. A few hundred bytes.
type Failed struct {
	Unit         string    `json:"unit"`
	InvocationID string    `json:"invocation_id"`
	Result       string    `json:"result"`
	ExitCode     string    `json:"exit_code,omitempty"`
	ExitStatus   string    `json:"exit_status,omitempty"`
	At           time.Time `json:"at"`
}

func (s *Store) failedPath(f Failed) string {
	return failedDir + "/" + hashID(f.Unit, f.InvocationID) + entryExt
}

// SaveFailed records a failed run (written, renamed). It is the hook's, and
// the watched unit's restart waits for the hook, so it is not synced: it
// survives a killed handler, which is what it is for (see writeFileCached).
func (s *Store) SaveFailed(f Failed) error {
	if f.Unit == "" {
		return errors.New("state: record a failed run: no unit")
	}
	dir := filepath.Join(s.dir, failedDir)
	if err := s.f.MakeDir(failedDir); err != nil {
		return fmt.Errorf("state: record a failed run: %w", err)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("state: record a failed run: %w", err)
	}
	if err := s.f.WriteFileCached(s.failedPath(f), append(b, '\n')); err != nil {
		return fmt.Errorf("state: record a failed run of %s in %s: %w", f.Unit, dir, err)
	}
	return nil
}

// FailedRuns lists the recorded failed runs, oldest first; of unit only
// when unit is not empty. A record that does not parse is moved aside.
func (s *Store) FailedRuns(unit string) []Failed {
	des, err := s.f.ReadDir(failedDir)
	if err != nil {
		return nil
	}
	var out []Failed
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), entryExt) || strings.HasPrefix(de.Name(), tmpPrefix) {
			continue
		}
		name := failedDir + "/" + de.Name()
		b, err := s.f.ReadFile(name)
		if err != nil {
			s.log.Warn("state: cannot read a failed run's record", "path", filepath.Join(s.dir, name), "error", err)
			continue
		}
		var f Failed
		if err := json.Unmarshal(b, &f); err != nil || f.Unit == "" {
			s.f.MoveAside(name, fmt.Errorf("not a failed run's record: %v", err))
			continue
		}
		if unit == "" || f.Unit == unit {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b Failed) int { return a.At.Compare(b.At) })
	return out
}

// RemoveFailed forgets a failed run once its report is decided: sent, in
// the outbox, or held by the gate.
func (s *Store) RemoveFailed(f Failed) error {
	if err := s.f.Remove(s.failedPath(f)); err != nil {
		return fmt.Errorf("state: remove the record of a failed run of %s: %w", f.Unit, err)
	}
	return nil
}
