// Package gate decides whether a crash report goes out: one failed run is
// reported once, the same failure repeating within the dedup window is
// counted instead of sent, a unit gets at most a few reports an hour, and
// every channel has a token bucket shared by every process on the host.
//
// Every decision is a pure function of the State, the failure and the time
// it is given (the shape of alertmanager's dedup stage): they do no I/O.
// Load and Save keep the State in its own file of the state folder (package
// state), Save under the folder's lock.
package gate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/analysis"
	"github.com/odoo-notify/odoo-notify/report"
)

// Version is the State's encoding version; a file of another version is
// moved aside, never misread.
const Version = 1

// maxRuns bounds the failed runs remembered per unit, so a long crash loop
// cannot grow the state file without bound.
const maxRuns = 1000

// Limits are the [limits] settings.
type Limits struct {
	// DedupWindow: the same failure of a unit within it is counted, not sent.
	DedupWindow time.Duration
	// MaxReports per Per: at most that many reports for one unit.
	MaxReports int
	Per        time.Duration
}

// Failure is what the gate needs to know about one failed run.
type Failure struct {
	Unit         string
	InvocationID string
	Result       string
	ExitCode     string
	ExitStatus   string
	// Exception is the type of the Python exception that ended the run,
	// when known; it tells one failure from another of the same exit status.
	Exception string
	// Key, when set, is the crash analysis's fingerprint (cause, exception
	// type and innermost frame) and replaces the default one: the same bug
	// repeating is one story, a new bug a new one.
	Key string `json:"key,omitempty"`
}

// FailureOf takes the gate's facts from a report.
func FailureOf(r *report.Report) Failure {
	id := r.InvocationID
	if r.Episode != "" {
		id += "/" + r.Episode
	}
	f := Failure{Unit: r.Unit, InvocationID: id, Result: r.Result, ExitCode: r.ExitCode, ExitStatus: r.ExitStatus}
	if r.Exception != nil {
		f.Exception = r.Exception.Type
	}
	if r.Cause != "" {
		f.Key = analysis.Fingerprint(r)
	}
	return f
}

// Fingerprint says what "failing the same way" means: the same result,
// exit status and, when known, exception.
func (f Failure) Fingerprint() string {
	if f.Key != "" {
		return f.Key
	}
	return strings.Join([]string{f.Result, f.ExitCode, f.ExitStatus, f.Exception}, "/")
}

// label is how a held failure is listed in the next report: "exit-code
// (status 3)", "signal (KILL)".
func (f Failure) Label() string {
	s := f.Result
	if s == "" {
		s = "unknown"
	}
	if f.ExitStatus != "" {
		if f.ExitCode == "exited" {
			s += " (status " + f.ExitStatus + ")"
		} else {
			s += " (" + f.ExitStatus + ")"
		}
	}
	if f.Exception != "" {
		s += " " + f.Exception
	}
	return s
}

// State is everything the gate remembers between runs.
type State struct {
	Version int              `json:"version"`
	Units   map[string]*Unit `json:"units,omitempty"`
	// Buckets are the per-channel token buckets, by channel name.
	Buckets map[string]*Bucket `json:"buckets,omitempty"`
}

// Unit is what the gate remembers about one unit.
type Unit struct {
	// Runs are the failed runs seen (invocation id -> first seen).
	Runs map[string]time.Time `json:"runs,omitempty"`
	// Sent are the times reports went out, within the last Per.
	Sent []time.Time `json:"sent,omitempty"`
	// LastSent is when each fingerprint was last sent.
	LastSent map[string]time.Time `json:"last_sent,omitempty"`
	// Held counts what was held back since the last report that went out.
	Held *report.Held `json:"held,omitempty"`
	// HeldUntil is when the last hold ends: from then on, with nothing
	// sent, a digest is due.
	HeldUntil time.Time `json:"held_until,omitzero"`
	// LastHeld is the most recent failure held back, for the digest.
	LastHeld *Failure `json:"last_held,omitempty"`
}

// New returns an empty State.
func New() *State { return &State{Version: Version} }

// Verdict is what the gate decided.
type Verdict int

const (
	// Send: the report goes out.
	Send Verdict = iota
	// Duplicate: this failed run was already reported (or held): the
	// handler ran twice for it. Nothing is counted.
	Duplicate
	// Repeat: the same failure was sent within the dedup window; counted.
	Repeat
	// Limited: the unit had its max_reports within per; counted.
	Limited
	// Silenced: the unit is silenced (odoo-notify silence); its incident
	// counts the failure.
	Silenced
)

func (v Verdict) String() string {
	switch v {
	case Send:
		return "send"
	case Duplicate:
		return "duplicate run"
	case Repeat:
		return "repeat within dedup window"
	case Limited:
		return "unit rate limit"
	case Silenced:
		return "silenced"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Decision is the gate's answer for one failure.
type Decision struct {
	Verdict Verdict
	// Held, on Send, is what was held back before this report: the report
	// must carry it.
	Held *report.Held
	// Until, when held back, is when the hold ends.
	Until time.Time
}

func (s *State) unit(name string) *Unit {
	if s.Units == nil {
		s.Units = map[string]*Unit{}
	}
	u := s.Units[name]
	if u == nil {
		u = &Unit{}
		s.Units[name] = u
	}
	return u
}

// Decide says whether f is reported now and records the decision in s.
func (s *State) Decide(f Failure, l Limits, now time.Time) Decision {
	u := s.unit(f.Unit)
	if f.InvocationID != "" {
		if _, seen := u.Runs[f.InvocationID]; seen {
			return Decision{Verdict: Duplicate}
		}
		if u.Runs == nil {
			u.Runs = map[string]time.Time{}
		}
		u.Runs[f.InvocationID] = now
	}
	fp := f.Fingerprint()
	if last, ok := u.LastSent[fp]; ok && l.DedupWindow > 0 && now.Sub(last) < l.DedupWindow && !now.Before(last) {
		until := last.Add(l.DedupWindow)
		u.hold(f, now, until)
		return Decision{Verdict: Repeat, Until: until}
	}
	u.Sent = within(u.Sent, now, l.Per)
	if l.MaxReports > 0 && len(u.Sent) >= l.MaxReports {
		until := u.Sent[len(u.Sent)-l.MaxReports].Add(l.Per)
		u.hold(f, now, until)
		return Decision{Verdict: Limited, Until: until}
	}
	d := Decision{Verdict: Send, Held: u.release()}
	u.Sent = append(u.Sent, now)
	if u.LastSent == nil {
		u.LastSent = map[string]time.Time{}
	}
	u.LastSent[fp] = now
	return d
}

// Seen says whether f's run was decided on before: the handler ran twice
// for it.
func (s *State) Seen(f Failure) bool {
	u := s.Units[f.Unit]
	if u == nil || f.InvocationID == "" {
		return false
	}
	_, seen := u.Runs[f.InvocationID]
	return seen
}

// Note remembers f's run without sending anything: a failure of a silenced
// unit, counted by its incident.
func (s *State) Note(f Failure, now time.Time) {
	u := s.unit(f.Unit)
	if f.InvocationID == "" {
		return
	}
	if u.Runs == nil {
		u.Runs = map[string]time.Time{}
	}
	u.Runs[f.InvocationID] = now
}

// Open is Decide for the failure that opens an incident: it always goes
// out, whatever the dedup window and the unit's limit say (those keep an
// open incident's updates down), and counts as a report sent.
func (s *State) Open(f Failure, now time.Time) Decision {
	s.Note(f, now)
	u := s.unit(f.Unit)
	d := Decision{Verdict: Send, Held: u.release()}
	u.Sent = append(u.Sent, now)
	if u.LastSent == nil {
		u.LastSent = map[string]time.Time{}
	}
	u.LastSent[f.Fingerprint()] = now
	return d
}

func (u *Unit) hold(f Failure, now, until time.Time) {
	if u.Held == nil {
		u.Held = &report.Held{Since: now}
	}
	u.Held.Count++
	if l := f.Label(); !slices.Contains(u.Held.Results, l) {
		u.Held.Results = append(u.Held.Results, l)
	}
	if until.After(u.HeldUntil) {
		u.HeldUntil = until
	}
	u.LastHeld = &f
}

// release hands over what was held and forgets it.
func (u *Unit) release() *report.Held {
	h := u.Held
	u.Held, u.HeldUntil, u.LastHeld = nil, time.Time{}, nil
	if h != nil && h.Count == 0 {
		return nil
	}
	return h
}

// within keeps the times in the last per before now. A time after now was
// written by a clock that has since gone back: it is dropped, or the
// per-unit limit would hold every report until the clock caught up.
func within(ts []time.Time, now time.Time, per time.Duration) []time.Time {
	return slices.DeleteFunc(ts, func(t time.Time) bool { return now.Sub(t) >= per || t.After(now) })
}

// Digest is a summary due for a unit whose failures were held back and whose
// hold has ended with nothing sent since.
type Digest struct {
	Unit string
	Held report.Held
	// Last is the most recent failure held back.
	Last Failure
}

// Digests returns the digests due at now, oldest hold first, and records
// them as sent: the caller puts them in the outbox under the same lock.
func (s *State) Digests(l Limits, now time.Time) []Digest {
	var ds []Digest
	for name, u := range s.Units {
		if u.Held == nil || u.Held.Count == 0 || now.Before(u.HeldUntil) {
			continue
		}
		d := Digest{Unit: name, Held: *u.Held}
		if u.LastHeld != nil {
			d.Last = *u.LastHeld
		}
		d.Last.Unit = name
		u.release()
		u.Sent = append(within(u.Sent, now, l.Per), now)
		ds = append(ds, d)
	}
	slices.SortFunc(ds, func(a, b Digest) int { return a.Held.Since.Compare(b.Held.Since) })
	return ds
}

// Prune forgets what no decision at now can need any more, so the file
// stays small: runs and sends older than keep, units with nothing left,
// buckets that are full again.
func (s *State) Prune(l Limits, keep time.Duration, now time.Time, rates map[string]Rate) {
	keep = max(keep, l.DedupWindow, l.Per)
	for name, u := range s.Units {
		for id, t := range u.Runs {
			if now.Sub(t) >= keep {
				delete(u.Runs, id)
			}
		}
		if len(u.Runs) > maxRuns {
			ids := make([]string, 0, len(u.Runs))
			for id := range u.Runs {
				ids = append(ids, id)
			}
			slices.SortFunc(ids, func(a, b string) int { return u.Runs[a].Compare(u.Runs[b]) })
			for _, id := range ids[:len(ids)-maxRuns] {
				delete(u.Runs, id)
			}
		}
		u.Sent = within(u.Sent, now, l.Per)
		for fp, t := range u.LastSent {
			if now.Sub(t) >= l.DedupWindow {
				delete(u.LastSent, fp)
			}
		}
		if len(u.Runs) == 0 && len(u.Sent) == 0 && len(u.LastSent) == 0 && u.Held == nil {
			delete(s.Units, name)
		}
	}
	for name, b := range s.Buckets {
		r, ok := rates[name]
		if !ok || r.unlimited() || b.level(r, now) >= float64(r.Burst) {
			delete(s.Buckets, name)
		}
	}
}
