// Package incident groups a unit's failures into incidents: the first
// reported failure opens one, later failures are updates of it, and it
// resolves once the unit has run for stable_after with no new failure, with
// exactly one recovery notice.
//
// Like the gate, every decision is a pure function of the State, what is
// known of the unit and the time it is given: they do no I/O. Load and Save
// keep the State in its own file of the state folder (package state).
package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

// Version is the State's encoding version.
const Version = 1

// keepClosed is how long a resolved incident is remembered (for history and
// status); maxClosed bounds how many.
const (
	keepClosed = 30 * 24 * time.Hour
	maxClosed  = 200
)

// Failure is what an incident needs to know of one failed run.
type Failure struct {
	Unit         string
	InvocationID string
	// Cause is the analysed cause, or what systemd saw ("exit-code (status 1)").
	Cause string
	// At is when the run ended (its exit, else when it was reported).
	At time.Time
}

// Count is how many failures had one cause.
type Count struct {
	Cause string `json:"cause"`
	N     int    `json:"n"`
}

// Incident is one unit's spell of trouble.
type Incident struct {
	ID   string `json:"id"`
	Unit string `json:"unit"`
	// Opened is the first failure's time; LastFailure the latest's.
	Opened      time.Time `json:"opened"`
	LastFailure time.Time `json:"last_failure"`
	// LastInvocation is the latest failed run: a run with another id that
	// is active is a new run.
	LastInvocation string  `json:"last_invocation,omitempty"`
	Failures       int     `json:"failures"`
	Causes         []Count `json:"causes,omitempty"`

	// Announced: the opening report is in the outbox as OpeningEntry, with
	// OpeningSubject; follow-ups thread to it (OpeningRun names its run).
	Announced      bool   `json:"announced,omitempty"`
	OpeningEntry   string `json:"opening_entry,omitempty"`
	OpeningRun     string `json:"opening_run,omitempty"`
	OpeningSubject string `json:"opening_subject,omitempty"`
	// Delivered are the channels that got the opening report.
	Delivered []string `json:"delivered,omitempty"`
	// Cause is the opening report's cause, which stays the incident's
	// for a receiver that names an alert by it (Alertmanager's labels).
	Cause string `json:"cause,omitempty"`
	// LastSummary is the summary of the latest report of the incident,
	// for a channel that is told it again (Refresh).
	LastSummary string `json:"last_summary,omitempty"`

	LastReminder time.Time `json:"last_reminder,omitzero"`
	Resolved     time.Time `json:"resolved,omitzero"`
	RunningSince time.Time `json:"running_since,omitzero"`
}

// CauseText says "db-unreachable x3, oom-kill x1".
func (in *Incident) CauseText() string {
	parts := make([]string, 0, len(in.Causes))
	for _, c := range in.Causes {
		parts = append(parts, fmt.Sprintf("%s x%d", c.Cause, c.N))
	}
	return strings.Join(parts, ", ")
}

// LastCause is the latest failure's cause: Record keeps it first.
func (in *Incident) LastCause() string {
	if len(in.Causes) == 0 {
		return ""
	}
	return in.Causes[0].Cause
}

// State is every open incident, by unit, and the recently resolved ones.
type State struct {
	Version int                  `json:"version"`
	Open    map[string]*Incident `json:"open,omitempty"`
	// Closed are resolved incidents, oldest first.
	Closed []*Incident `json:"closed,omitempty"`
	// Silences are the units silenced now, by unit.
	Silences map[string]*Silence `json:"silences,omitempty"`
}

// Silence is `odoo-notify silence UNIT`: failures are counted, not sent.
type Silence struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// New returns an empty State.
func New() *State { return &State{Version: Version} }

// Decode reads a State; an unknown version is an error (the caller moves
// the file aside).
func Decode(b []byte) (*State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("incident: decode state: %w", err)
	}
	if s.Version != Version {
		return nil, fmt.Errorf("incident: decode state: version %d, want %d", s.Version, Version)
	}
	return &s, nil
}

// Encode writes s as JSON.
func (s *State) Encode() ([]byte, error) {
	s.Version = Version
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("incident: encode state: %w", err)
	}
	return append(b, '\n'), nil
}

// Get is unit's open incident, or nil.
func (s *State) Get(unit string) *Incident { return s.Open[unit] }

// Record counts f in unit's open incident, opening one when there is none.
// The caller has already dropped a run it has seen before (the gate's
// dedup).
func (s *State) Record(f Failure) *Incident {
	if s.Open == nil {
		s.Open = map[string]*Incident{}
	}
	in := s.Open[f.Unit]
	if in == nil {
		in = &Incident{ID: newID(f), Unit: f.Unit, Opened: f.At}
		s.Open[f.Unit] = in
	}
	in.Failures++
	if !f.At.Before(in.LastFailure) {
		in.LastFailure = f.At
		in.LastInvocation = f.InvocationID
	}
	if f.At.Before(in.Opened) {
		in.Opened = f.At
	}
	cause := f.Cause
	if cause == "" {
		cause = "unknown"
	}
	i := slices.IndexFunc(in.Causes, func(c Count) bool { return c.Cause == cause })
	if i < 0 {
		in.Causes = append(in.Causes, Count{Cause: cause})
		i = len(in.Causes) - 1
	}
	in.Causes[i].N++
	// The latest cause first: LastCause reads it.
	c := in.Causes[i]
	in.Causes = slices.Delete(in.Causes, i, i+1)
	in.Causes = slices.Insert(in.Causes, 0, c)
	return in
}

func newID(f Failure) string {
	h := sha256.Sum256([]byte(f.Unit + "\x00" + f.InvocationID + "\x00" + f.At.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h[:6])
}

// Announce records that in's opening report is in the outbox, and the
// cause it names.
func (in *Incident) Announce(entry, run, subject, cause string) {
	in.Announced, in.OpeningEntry, in.OpeningRun, in.OpeningSubject, in.Cause = true, entry, run, subject, cause
}

// MarkDelivered records that channel got the opening report.
func (in *Incident) MarkDelivered(channel string) {
	if !slices.Contains(in.Delivered, channel) {
		in.Delivered = append(in.Delivered, channel)
	}
}

// Unit is what systemd says of a unit now.
type Unit struct {
	// Active: ActiveState is "active" (or "reloading").
	Active bool
	// State is ActiveState/SubState, for a person: "failed/failed".
	State string
	// Since is when it last became active.
	Since time.Time
	// InvocationID is the current (or last) run's id.
	InvocationID string
	// Answering: Since is when the unit began answering its health URL
	// again, as its watcher saw (odoo-notify watch), not when systemd
	// last started it.
	Answering bool
}

// Stable says whether unit u has been running for stableAfter since in's
// last failure: active, in a run after the last failed one, for long enough.
func (in *Incident) Stable(u Unit, stableAfter time.Duration, now time.Time) bool {
	if !u.Active || u.Since.IsZero() {
		return false
	}
	newRun := u.InvocationID != "" && in.LastInvocation != "" && u.InvocationID != in.LastInvocation
	if !newRun && !u.Since.After(in.LastFailure) {
		return false
	}
	return now.Sub(u.Since) >= stableAfter
}

// Resolve closes unit's open incident as of now, the unit running since
// since, and returns it.
func (s *State) Resolve(unit string, since, now time.Time) *Incident {
	in := s.Open[unit]
	if in == nil {
		return nil
	}
	delete(s.Open, unit)
	in.Resolved, in.RunningSince = now, since
	s.Closed = append(s.Closed, in)
	return in
}

// ReminderDue says whether a reminder that in is still down is due at now.
func (in *Incident) ReminderDue(u Unit, every time.Duration, now time.Time) bool {
	if every <= 0 || !in.Announced || u.Active {
		return false
	}
	last := in.LastReminder
	if last.IsZero() {
		last = in.LastFailure
	}
	return now.Sub(last) >= every
}

// Silence silences unit until until.
func (s *State) Silence(unit string, until, now time.Time, reason string) {
	if s.Silences == nil {
		s.Silences = map[string]*Silence{}
	}
	s.Silences[unit] = &Silence{Until: until, Reason: reason, Since: now}
}

// Silenced says whether unit is silenced at now.
func (s *State) Silenced(unit string, now time.Time) bool {
	sl := s.Silences[unit]
	return sl != nil && now.Before(sl.Until)
}

// Ended is a silence that ended, and the incident that came during it.
type Ended struct {
	Unit    string
	Silence Silence
	// Incident is the unit's open incident that nothing announced yet,
	// if failures came during the silence.
	Incident *Incident
}

// Unsilence ends unit's silence now, if there is one.
func (s *State) Unsilence(unit string, now time.Time) (Ended, bool) {
	sl := s.Silences[unit]
	if sl == nil {
		return Ended{}, false
	}
	delete(s.Silences, unit)
	e := Ended{Unit: unit, Silence: *sl}
	e.Silence.Until = now
	if in := s.Open[unit]; in != nil && !in.Announced {
		e.Incident = in
	}
	return e, true
}

// EndedSilences ends every silence over at now.
func (s *State) EndedSilences(now time.Time) []Ended {
	var out []Ended
	for unit, sl := range s.Silences {
		if now.Before(sl.Until) {
			continue
		}
		delete(s.Silences, unit)
		e := Ended{Unit: unit, Silence: *sl}
		if in := s.Open[unit]; in != nil && !in.Announced {
			e.Incident = in
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Ended) int { return strings.Compare(a.Unit, b.Unit) })
	return out
}

// Drop forgets unit's open incident that was never announced (it came
// during a silence and the unit is fine again).
func (s *State) Drop(unit string) {
	if in := s.Open[unit]; in != nil && !in.Announced {
		delete(s.Open, unit)
	}
}

// Prune forgets resolved incidents older than keepClosed, and all but the
// last maxClosed.
func (s *State) Prune(now time.Time) {
	s.Closed = slices.DeleteFunc(s.Closed, func(in *Incident) bool { return now.Sub(in.Resolved) >= keepClosed })
	if len(s.Closed) > maxClosed {
		s.Closed = s.Closed[len(s.Closed)-maxClosed:]
	}
}

// Snapshot is what a report carries of in: the report package's view.
func (in *Incident) Snapshot(state string) *report.Incident {
	return &report.Incident{
		ID:           in.ID,
		Opened:       in.Opened,
		Failures:     in.Failures,
		State:        state,
		Causes:       in.CauseText(),
		LastFailure:  in.LastFailure,
		Resolved:     in.Resolved,
		RunningSince: in.RunningSince,
		Subject:      in.OpeningSubject,
		Cause:        in.Cause,
	}
}

// Reopen undoes Resolve: the recovery notice could not be saved.
func (s *State) Reopen(in *Incident) {
	s.Closed = slices.DeleteFunc(s.Closed, func(c *Incident) bool { return c == in })
	in.Resolved, in.RunningSince = time.Time{}, time.Time{}
	if s.Open == nil {
		s.Open = map[string]*Incident{}
	}
	s.Open[in.Unit] = in
}
