package journal

import (
	"errors"
	"fmt"

	"github.com/coreos/go-systemd/v22/sdjournal"
)

// Follower reads a unit's journal lines, and the kernel's, as they come:
// one journal handle kept open, each Next reading on from where the last
// stopped, so a watcher following a busy journal reads each entry once.
type Follower struct {
	sd *sdjournal.Journal
}

// followFields are what a follower reads of an entry beside the time,
// MESSAGE and PRIORITY: whether it is the kernel's, and whose process it
// is. Reading them by name touches a few of the entry's data objects
// instead of its 25 or more (readFields).
var followFields = []string{fieldTransport, fieldPID}

// maxFollow bounds the entries one Next returns: the rest wait for the
// next call.
const maxFollow = 20000

// Follow opens the system journal at its end for unit's lines
// (_SYSTEMD_UNIT=unit; with unit "" none) and, with kernel, the kernel's
// (_TRANSPORT=kernel).
func Follow(unit string, kernel bool) (*Follower, error) {
	const op = "journal: follow"
	if unit == "" && !kernel {
		return nil, errors.New(op + ": nothing to follow")
	}
	j, err := OpenSystem()
	if err != nil {
		return nil, err
	}
	sd := j.sd
	j.sd = nil
	f := &Follower{sd: sd}
	var matchErr error
	if unit != "" {
		matchErr = sd.AddMatch(fieldSystemdUnit + "=" + unit)
		if matchErr == nil && kernel {
			matchErr = sd.AddDisjunction()
		}
	}
	if matchErr == nil && kernel {
		matchErr = sd.AddMatch(fieldTransport + "=kernel")
	}
	if matchErr == nil {
		matchErr = sd.SeekTail()
	}
	if matchErr == nil {
		// SeekTail places the read position after the last entry: step
		// back onto it, so that Next starts with what comes after it.
		_, matchErr = sd.Previous()
	}
	if matchErr != nil {
		sd.Close()
		return nil, fmt.Errorf("%s %s: %w", op, unit, matchErr)
	}
	return f, nil
}

// Next returns the entries logged since the last call, oldest first, at
// most maxFollow.
func (f *Follower) Next() ([]Entry, error) {
	if f.sd == nil {
		return nil, errors.New("journal: follow: closed")
	}
	// Take in new and rotated journal files.
	if r := f.sd.Wait(0); r < 0 {
		return nil, fmt.Errorf("journal: follow: wait: error %d", r)
	}
	var out []Entry
	for len(out) < maxFollow {
		n, err := f.sd.Next()
		if err != nil {
			return out, fmt.Errorf("journal: follow: %w", err)
		}
		if n == 0 {
			break
		}
		e, err := readFields(f.sd, followFields)
		if err != nil {
			return out, fmt.Errorf("journal: follow: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Close closes the journal.
func (f *Follower) Close() error {
	if f.sd == nil {
		return nil
	}
	err := f.sd.Close()
	f.sd = nil
	return err
}
