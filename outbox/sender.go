package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/odoo-notify/odoo-notify/gate"
	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
	"github.com/odoo-notify/odoo-notify/state"
)

// Sender takes a report through the gate into the outbox and delivers what
// the outbox holds: older reports first, then the new one.
type Sender struct {
	// Store is the state folder; nil when it cannot be used (StoreErr says
	// why): reports then go out directly, without dedup nor outbox.
	Store      *Store
	StoreErr   error
	Dispatcher *notifiers.Dispatcher
	Channels   []notifiers.Channel
	// Rates are the channels' token buckets, by channel name.
	Rates  map[string]gate.Rate
	Limits gate.Limits
	// MaxAge is how long an undelivered report is kept.
	MaxAge time.Duration
	// Policy is how incidents resolve and remind.
	Policy Policy
	// Host names the machine in digests.
	Host string
	Log  *slog.Logger
	Now  func() time.Time
}

// Outcome is what a run did.
type Outcome struct {
	// Verdict is the gate's decision on the new report (Send when the gate
	// was bypassed or could not be used).
	Verdict gate.Verdict
	// Until is when a hold ends.
	Until time.Time
	// Held is what the new report carries of earlier held-back failures.
	Held *report.Held
	// Sent is the new report as this run put it in the outbox (or, without
	// the outbox, sent it): the report given, with its incident (Event,
	// Incident) and Held. nil when it was held back.
	Sent *report.Report
	// Own is the new report's result on each channel, in the channels'
	// order; empty when it was held back.
	Own []notifiers.Result
	// Redelivered counts deliveries of older reports and digests.
	Redelivered int
	// Digests counts the digests put in the outbox by Flush; Resolved,
	// Reminders and Opened its recovery notices, reminders and incidents
	// opened at the end of a silence.
	Digests, Resolved, Reminders, Opened int
	// Refreshes counts the refreshes Flush put in the outbox for channels
	// that are Refreshers; Refreshed, those delivered.
	Refreshes, Refreshed int
	// Waiting counts reports this run left in the outbox with a channel
	// still to deliver.
	Waiting int
	// claimErr says why the new report could not be claimed, if it could
	// not for another reason than another live process delivering it.
	claimErr error
	// Dropped counts reports given up for age; Refused, deliveries of older
	// reports that a channel refused for good.
	Dropped, Refused int
	// Degraded, when set, says why the state folder could not be used: the
	// report went out without dedup nor outbox.
	Degraded error
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Dispatch takes rep through the gate and the unit's incident (unless
// bypass), puts it in the outbox before any send, and delivers what is
// pending, oldest first, inside ctx's deadline. The unit's first reported
// failure opens an incident and always goes out; later ones are its
// updates, within the limits. rep is left as it was: the report as it went
// out, with its incident and what was held back before it, is the
// Outcome's Sent.
func (s *Sender) Dispatch(ctx context.Context, rep *report.Report, bypass bool) Outcome {
	rep = rep.Clone()
	if s.Store == nil {
		return s.direct(ctx, rep, s.StoreErr)
	}
	var out Outcome
	s.run(ctx, &out, func(tx *tx) (*Entry, error) {
		if bypass {
			return s.put(newEntry(rep, s.Channels, tx.now))
		}
		f := gate.FailureOf(rep)
		if tx.gate.Seen(f) {
			out.Verdict = gate.Duplicate
			return nil, nil
		}
		if in := tx.inc.Get(rep.Unit); in != nil && f.InvocationID != "" && in.LastInvocation == f.InvocationID {
			// Counted by a run killed before it saved the gate: the gate
			// learns of it, and the report that run saved is the one
			// delivered, not a second one.
			tx.gate.Note(f, tx.now)
			out.Verdict = gate.Duplicate
			if old := s.Store.readEntry(EntryID(rep)); old != nil {
				out.Verdict = gate.Send
				rep.Event, rep.Incident = old.Report.Event, old.Report.Incident
				return old, nil
			}
			return nil, nil
		}
		// The start limit refusing a restart is no failed run (no process
		// ran): with an incident open it is an update of it saying the
		// loop stopped, which keeps the incident's count and last cause.
		in := tx.inc.Get(rep.Unit)
		stopped := in != nil && rep.Result == "start-limit-hit"
		if !stopped {
			in = tx.inc.Record(incident.Failure{Unit: rep.Unit, InvocationID: rep.InvocationID, Cause: CauseOf(rep), At: failedAt(rep)})
		}
		var d gate.Decision
		switch {
		case tx.inc.Silenced(rep.Unit, tx.now):
			tx.gate.Note(f, tx.now)
			out.Verdict, out.Until = gate.Silenced, tx.inc.Silences[rep.Unit].Until
			return nil, nil
		case !in.Announced:
			d = tx.gate.Open(f, tx.now)
		case paced(rep), stopped:
			// A degraded notice: its detector sends at most one per
			// degraded_window; the dedup window would hold the spell's
			// updates back for a digest that says the unit failed, and
			// they spend none of the unit's max_reports, kept for its
			// crashes and hangs. The start limit's refusal: once a loop,
			// and no failure: neither a dedup window nor the limits hold
			// it, nor would a digest count it.
			tx.gate.Note(f, tx.now)
			d = gate.Decision{Verdict: gate.Send}
		default:
			d = tx.gate.Decide(f, s.Limits, tx.now)
		}
		out.Verdict, out.Until = d.Verdict, d.Until
		if d.Verdict != gate.Send {
			return nil, nil
		}
		rep.Held, out.Held = d.Held, d.Held
		return s.putIncident(tx, in, rep, report.EventUpdate)
	})
	if out.Degraded != nil {
		return s.direct(ctx, rep, out.Degraded)
	}
	return out
}

// paced says rep is a degraded notice of odoo-notify watch, which paces
// its own: an opening, one update per degraded_window, a recovery.
func paced(rep *report.Report) bool {
	return rep.Cause == report.CauseDegraded && rep.Degraded != nil
}

// CauseOf is how a failure is counted in its incident: the analysed cause,
// else what systemd saw ("exit-code (status 1)"). The start limit is only
// why systemd stopped restarting: a run is counted by what it died of, as
// the crash history says of it, else of the loop's last run.
func CauseOf(rep *report.Report) string {
	if rep.Cause == "start-limit-hit" {
		last := ""
		for _, c := range rep.Crashes {
			if c.Cause == "" {
				continue
			}
			if c.InvocationID == rep.InvocationID {
				return c.Cause
			}
			last = c.Cause
		}
		if last != "" {
			return last
		}
	}
	switch rep.Cause {
	case "", "unknown", rep.Result, "exit-code", "signal", "core-dump":
		return gate.FailureOf(rep).Label()
	}
	return rep.Cause
}

// failedAt is when rep's run ended: systemd's exit time, else when the
// report was built.
func failedAt(rep *report.Report) time.Time {
	if !rep.ExitedAt.IsZero() {
		return rep.ExitedAt
	}
	return rep.Created
}

// putIncident puts rep in the outbox as part of in: the opening report
// when in was not announced yet (to every channel), a follow-up of kind
// event otherwise (to the channels that got the opening, after it).
func (s *Sender) putIncident(tx *tx, in *incident.Incident, rep *report.Report, event string) (*Entry, error) {
	in.LastSummary = report.Truncate(report.OneLine(rep.Summary), maxSummary)
	if !in.Announced {
		rep.Event = report.EventFiring
		rep.Incident = in.Snapshot("open")
		e := newEntry(rep, s.Channels, tx.now)
		in.Announce(e.ID, runKey(rep), rep.Subject(), openingCause(rep))
		return s.put(e)
	}
	rep.Event = event
	state := "open"
	if event == report.EventResolved {
		state = "resolved"
	}
	rep.Incident = in.Snapshot(state)
	e := newEntry(rep, s.followUpChannels(in), tx.now)
	e.After = in.OpeningEntry
	for _, d := range e.Channels {
		d.ThreadID = hashID(rep.Unit, in.OpeningRun, d.Channel)
	}
	return s.put(e)
}

// maxSummary bounds the summary an incident keeps for its refreshes.
const maxSummary = 1000

// openingCause is the cause an incident's opening report names: the
// analysed cause, else systemd's result.
func openingCause(rep *report.Report) string {
	for _, c := range []string{rep.Cause, rep.Result} {
		if c != "" {
			return c
		}
	}
	return "unknown"
}

// put saves e unless the outbox has it already (the same failed run, with
// the dedup state lost; a recovery notice a killed run saved): that one is
// delivered, keeping what it delivered.
func (s *Sender) put(e *Entry) (*Entry, error) {
	if old := s.Store.readEntry(e.ID); old != nil {
		return old, nil
	}
	if err := s.Store.putEntry(e); err != nil {
		return nil, err
	}
	return e, nil
}

// followUpChannels are the configured channels that got in's opening
// report, or may still get it: never a follow-up without its opening.
func (s *Sender) followUpChannels(in *incident.Incident) []notifiers.Channel {
	opening := s.Store.readEntry(in.OpeningEntry)
	var out []notifiers.Channel
	for _, ch := range s.Channels {
		ok := slices.Contains(in.Delivered, ch.Name)
		if opening != nil {
			if d := opening.delivery(ch.Name); d != nil && d.Failed == "" {
				ok = true
			}
		}
		if ok {
			out = append(out, ch)
		}
	}
	return out
}

// Policy is the [incidents] settings.
type Policy struct {
	// StableAfter: a unit active that long with no new failure is back.
	StableAfter time.Duration
	// RemindEvery, when set, says an open incident's unit is still down.
	RemindEvery time.Duration
}

// Flush ends the incidents whose unit is back (one recovery notice each),
// sends the reminders due, opens the incidents that came during a silence
// that ended, puts a digest in the outbox for every unit whose held-back
// failures were never reported, then delivers everything pending, oldest
// first. units tells what systemd says of a unit now; nil skips recovery.
func (s *Sender) Flush(ctx context.Context, units func(ctx context.Context, unit string) (incident.Unit, error)) Outcome {
	var out Outcome
	if s.Store == nil {
		out.Degraded = s.StoreErr
		return out
	}
	// Ask systemd first, without the lock: D-Bus may be slow.
	now := map[string]incident.Unit{}
	if units != nil {
		st := incident.Load(s.Store.f)
		names := slices.Collect(maps.Keys(st.Open))
		for u := range st.Silences {
			names = append(names, u)
		}
		slices.Sort(names)
		for _, name := range slices.Compact(names) {
			u, err := units(ctx, name)
			if err != nil {
				s.log().Warn("incident: cannot learn the unit's state: its incident stays open", "unit", name, "error", err)
				continue
			}
			now[name] = u
		}
	}
	s.run(ctx, &out, func(tx *tx) (*Entry, error) {
		s.endSilences(tx, now, &out)
		s.resolve(tx, now, &out)
		s.refresh(tx, &out)
		for _, d := range tx.gate.Digests(s.Limits, tx.now) {
			rep := s.digestReport(d, tx.now)
			var err error
			if in := tx.inc.Get(d.Unit); in != nil && in.Announced {
				_, err = s.putIncident(tx, in, rep, report.EventUpdate)
			} else {
				err = s.Store.putEntry(newEntry(rep, s.Channels, tx.now))
			}
			if err != nil {
				s.log().Error("outbox: a digest of held-back failures could not be saved", "unit", d.Unit, "held", d.Held.Count, "since", d.Held.Since, "error", err)
				continue
			}
			out.Digests++
		}
		return nil, nil
	})
	return out
}

// resolve puts a recovery notice in the outbox for every open incident
// whose unit has been stable for StableAfter, and a reminder for those
// still down when one is due.
func (s *Sender) resolve(tx *tx, units map[string]incident.Unit, out *Outcome) {
	for _, name := range slices.Sorted(maps.Keys(tx.inc.Open)) {
		in := tx.inc.Open[name]
		u, known := units[name]
		if !known || !in.Announced {
			continue
		}
		switch {
		case in.Stable(u, s.Policy.StableAfter, tx.now):
			tx.inc.Resolve(name, u.Since, tx.now)
			rep := s.recoveryReport(in, u)
			if _, err := s.putIncident(tx, in, rep, report.EventResolved); err != nil {
				s.log().Error("incident: the recovery notice could not be saved: the incident stays open", "unit", name, "incident", in.ID, "error", err)
				tx.inc.Reopen(in)
				continue
			}
			out.Resolved++
		case in.ReminderDue(u, s.Policy.RemindEvery, tx.now):
			rep := s.reminderReport(in, u, tx.now)
			if _, err := s.putIncident(tx, in, rep, report.EventReminder); err != nil {
				s.log().Error("incident: a reminder could not be saved", "unit", name, "incident", in.ID, "error", err)
				continue
			}
			in.LastReminder = tx.now
			out.Reminders++
		}
	}
}

// Answering offers unit's open incident its recovery: its watcher saw it
// answer again since u.Since (u.Answering set). The incident resolves, with
// its one recovery notice, once that has lasted StableAfter, as it does
// when Flush sees the unit back; resolved says whether it did now or is
// already over.
func (s *Sender) Answering(ctx context.Context, unit string, u incident.Unit) (out Outcome, resolved bool) {
	if s.Store == nil {
		out.Degraded = s.StoreErr
		return out, false
	}
	s.run(ctx, &out, func(tx *tx) (*Entry, error) {
		s.resolve(tx, map[string]incident.Unit{unit: u}, &out)
		resolved = tx.inc.Get(unit) == nil
		return nil, nil
	})
	return out, resolved
}

// OpenIncident is unit's open incident, or nil: a watcher started again
// learns from it that the hang it sees was reported already.
func (s *Sender) OpenIncident(unit string) *incident.Incident {
	if s.Store == nil {
		return nil
	}
	return incident.Load(s.Store.f).Get(unit)
}

// endSilences opens the incidents that came during a silence that is over,
// if their unit is not back; a unit that is back has its quiet incident
// forgotten.
func (s *Sender) endSilences(tx *tx, units map[string]incident.Unit, out *Outcome) {
	for _, e := range tx.inc.EndedSilences(tx.now) {
		s.openAfterSilence(tx, e, units[e.Unit], out)
	}
}

// openAfterSilence is what ends a silence: the incident that came during
// it opens now, unless the unit is back.
func (s *Sender) openAfterSilence(tx *tx, e incident.Ended, u incident.Unit, out *Outcome) {
	in := e.Incident
	if in == nil {
		return
	}
	if in.Stable(u, 0, tx.now) {
		s.log().Info("silence ended: the unit failed during it and is running again: nothing is sent", "unit", e.Unit, "failures", in.Failures, "reason", e.Silence.Reason)
		tx.inc.Drop(e.Unit)
		return
	}
	rep := s.silenceReport(in, e, u, tx.now)
	if _, err := s.putIncident(tx, in, rep, report.EventFiring); err != nil {
		s.log().Error("incident: the report of failures during a silence could not be saved", "unit", e.Unit, "error", err)
		return
	}
	out.Opened++
}

// EndSilence ends unit's silence now (odoo-notify unsilence): an incident
// that came during it opens, unless u (zero when systemd could not say)
// shows the unit back, and what is pending is delivered. ok is false when
// the unit was not silenced.
func (s *Sender) EndSilence(ctx context.Context, unit string, u incident.Unit) (out Outcome, ok bool) {
	if s.Store == nil {
		out.Degraded = s.StoreErr
		return out, false
	}
	s.run(ctx, &out, func(tx *tx) (*Entry, error) {
		var e incident.Ended
		if e, ok = tx.inc.Unsilence(unit, tx.now); ok {
			s.openAfterSilence(tx, e, u, &out)
		}
		return nil, nil
	})
	return out, ok
}

// digestReport says that failures were held back and nothing was sent since.
func (s *Sender) digestReport(d gate.Digest, now time.Time) *report.Report {
	held := d.Held
	r := &report.Report{
		Host:       s.Host,
		Unit:       d.Unit,
		Result:     d.Last.Result,
		ExitCode:   d.Last.ExitCode,
		ExitStatus: d.Last.ExitStatus,
		Held:       &held,
		Created:    now,
		Summary: fmt.Sprintf("%s failed %d more time(s) since %s; those failures were held back by the dedup window or the rate limit and nothing was sent since. The last one is shown.",
			d.Unit, held.Count, held.Since.UTC().Format(time.RFC3339)),
		LinesProblem: "a digest of held-back failures: see the journal for their log lines (journalctl -u " + d.Unit + ")",
	}
	return r
}

// item is one delivery planned for this run.
type item struct {
	e        *Entry
	d        *Delivery
	ch       notifiers.Channel
	own      bool
	wait     time.Duration // after the plan's time, for the token bucket
	reserved bool
	res      *notifiers.Result
	skip     string // why it was not attempted
	recorded bool   // its result is in the entry's file already
	// dep, on an incident's follow-up, is this run's delivery of the
	// opening report to the same channel: it must succeed first.
	dep *item
}

// waitsForOpening is why a follow-up is not sent yet.
const waitsForOpening = "waits for the incident's opening report to reach this channel"

// tx is what one pass holds under the lock: the state folder, the gate's
// and the incidents' state, and the time the pass decides at.
type tx struct {
	file *state.Tx
	gate *gate.State
	inc  *incident.State
	now  time.Time
}

// run is one pass: under the lock, prepare (the gate, the incident, the new
// entry) and plan; then deliver without the lock; then, under the lock,
// record.
func (s *Sender) run(ctx context.Context, out *Outcome, prepare func(*tx) (*Entry, error)) {
	log := s.log()
	var (
		own        *Entry
		items      []*item
		claims     map[string]*state.Claim
		ownClaimed bool
	)
	err := s.Store.f.Update(ctx, func(file *state.Tx) error {
		t := &tx{file: file, gate: gate.Load(file.Folder), inc: incident.Load(file.Folder), now: s.now()}
		before, _ := t.inc.Encode()
		var err error
		if own, err = prepare(t); err != nil {
			return err
		}
		if own != nil {
			out.Sent = own.Report
		}
		items, claims, ownClaimed = s.plan(ctx, file, t.gate, own, t.now, out)
		// The incidents first, then the gate: killed between the two, the
		// next run for this failed run finds it counted in its incident
		// (Dispatch takes it as seen) rather than seen by the gate with no
		// incident to resolve.
		t.inc.Prune(t.now)
		if after, _ := t.inc.Encode(); !bytes.Equal(before, after) {
			if err := incident.Save(file, t.inc); err != nil {
				log.Warn("state: the incidents could not be saved: the next failure may open a new one", "error", err)
			}
		}
		t.gate.Prune(s.Limits, s.MaxAge, t.now, s.Rates)
		if err := gate.Save(file, t.gate); err != nil {
			log.Warn("state: the dedup state could not be saved: the next run may report this failure again", "error", err)
		}
		return nil
	})
	if err != nil {
		out.Degraded = err
		return
	}

	s.deliver(ctx, items, time.Now())

	s.record(ctx, items, claims, out)
	if own != nil {
		out.Own = s.ownResults(own, items, ownClaimed, out.claimErr)
	}
}

// plan claims the entries this process will deliver, drops those too old,
// and reserves a token for each delivery. It runs under the lock.
func (s *Sender) plan(ctx context.Context, file *state.Tx, st *gate.State, own *Entry, now time.Time, out *Outcome) (items []*item, claims map[string]*state.Claim, ownClaimed bool) {
	log := s.log()
	claims = map[string]*state.Claim{}
	maxWait := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		// Wait for a token at most half of what is left, so that the send
		// itself still has time.
		maxWait = max(time.Until(dl)/2, 0)
	}
	byName := map[string]notifiers.Channel{}
	for _, ch := range s.Channels {
		byName[ch.Name] = ch
	}
	all := s.Store.entries()
	byID := map[string]*Entry{}
	for _, e := range all {
		byID[e.ID] = e
	}
	planned := map[[2]string]*item{} // entry id, channel
	for _, e := range all {
		isOwn := own != nil && e.ID == own.ID
		c, err := s.Store.tryClaim(e.ID)
		if err != nil {
			log.Error("outbox: a report is stuck", "unit", e.Report.Unit, "created", e.Created.UTC().Format(time.RFC3339), "error", err)
			out.Waiting++
			if isOwn {
				out.claimErr = err
			}
			continue
		}
		if c == nil {
			continue // another process is delivering it
		}
		if isOwn {
			ownClaimed = true
		}
		if s.MaxAge > 0 && now.Sub(e.Created) >= s.MaxAge && !isOwn {
			s.drop(file, e, now)
			out.Dropped++
			c.Release()
			continue
		}
		claims[e.ID] = c
		for _, d := range e.Channels {
			if d.Done() {
				continue
			}
			ch, ok := byName[d.Channel]
			if !ok {
				log.Warn("outbox: a report waits for a channel that is no longer configured; it is dropped after max_age", "unit", e.Report.Unit, "channel", d.Channel, "report_id", d.ReportID, "created", e.Created)
				continue
			}
			it := &item{e: e, d: d, ch: ch, own: isOwn}
			if opening := byID[e.After]; e.After != "" && opening != nil {
				switch od := opening.delivery(ch.Name); {
				case od == nil || !od.Delivered.IsZero():
				case od.Failed != "":
					// The channel refused the opening for good: the
					// follow-up would be a notice about nothing it knows.
					it.res = &notifiers.Result{Channel: ch, Err: fmt.Errorf("not sent: the channel refused the incident's opening report: %s", od.Failed)}
					items = append(items, it)
					continue
				case planned[[2]string{opening.ID, ch.Name}] != nil:
					it.dep = planned[[2]string{opening.ID, ch.Name}]
				default:
					it.skip = waitsForOpening
					items = append(items, it)
					continue
				}
			}
			planned[[2]string{e.ID, ch.Name}] = it
			wait, ok := st.Reserve(ch.Name, s.Rates[ch.Name], now, maxWait)
			if ok {
				it.wait, it.reserved = wait, true
			} else {
				it.skip = fmt.Sprintf("the channel's rate limit allows it in %s, after this run's deadline", wait.Round(time.Second))
			}
			items = append(items, it)
		}
	}
	return items, claims, ownClaimed
}

// drop gives up on an entry older than max_age, with an error line for
// each channel that never got it.
func (s *Sender) drop(file *state.Tx, e *Entry, now time.Time) {
	for _, d := range e.Channels {
		if d.Done() {
			continue
		}
		s.log().Error("outbox: dropped a report that could not be delivered within max_age",
			"unit", e.Report.Unit, "channel", d.Channel, "report_id", d.ReportID, "subject", e.Report.Subject(),
			"created", e.Created.UTC().Format(time.RFC3339), "max_age", s.MaxAge, "attempt", d.Attempts, "last_error", d.LastError)
	}
	if err := s.remove(file, e); err != nil {
		s.log().Warn("outbox: could not remove an expired report", "unit", e.Report.Unit, "error", err)
	}
}

// deliver sends every planned item: channels at once, each channel's items
// one after the other, oldest first, each not before planned plus its
// token wait (planned is the wall clock, whatever clock decides). A temporary failure stops that channel
// for this run: what follows would meet the same server.
func (s *Sender) deliver(ctx context.Context, items []*item, planned time.Time) {
	var order []string
	groups := map[string][]*item{}
	for _, it := range items {
		if _, ok := groups[it.ch.Name]; !ok {
			order = append(order, it.ch.Name)
		}
		groups[it.ch.Name] = append(groups[it.ch.Name], it)
	}
	var wg sync.WaitGroup
	for _, name := range order {
		wg.Go(func() {
			stopped := ""
			for _, it := range groups[name] {
				if it.skip != "" || it.res != nil {
					continue
				}
				if stopped != "" {
					it.skip = stopped
					continue
				}
				if it.dep != nil && (it.dep.res == nil || !it.dep.res.OK()) {
					it.skip = waitsForOpening
					continue
				}
				if err := notifiers.Sleep(ctx, time.Until(planned.Add(it.wait))); err != nil {
					it.skip = "the run's deadline came first"
					continue
				}
				res := s.Dispatcher.Deliver(ctx, it.ch, it.e.reportFor(it.d))
				it.res = &res
				// Recorded now, not when the slowest channel is done: a kill
				// -9 meanwhile must not make this channel send it again.
				it.recorded = s.recordOne(ctx, it)
				if !res.OK() && res.Retry {
					stopped = "an older report to this channel failed just before"
				}
			}
		})
	}
	wg.Wait()
}

// recordOne writes one delivery's result into its entry's file, under the
// lock, as soon as it is known. It says whether it did; record writes it at
// the end of the run otherwise.
func (s *Sender) recordOne(ctx context.Context, it *item) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	recorded := false
	_ = s.Store.f.Update(ctx, func(*state.Tx) error {
		e := s.Store.readEntry(it.e.ID)
		if e == nil {
			return nil
		}
		d := e.delivery(it.d.Channel)
		if d == nil {
			return nil
		}
		applyResult(d, it.res, s.now())
		if err := s.Store.putEntry(e); err != nil {
			s.log().Warn("outbox: a delivery could not be recorded yet; the end of the run tries again", "unit", e.Report.Unit, "channel", it.ch.String(), "error", err)
			return nil
		}
		recorded = true
		return nil
	})
	return recorded
}

// remove takes a report out of the outbox, under the lock. What it
// delivered is kept first, where its entry was read until now: the last
// delivery per channel (for status) and, for an incident's opening report,
// the channels that got it (its follow-ups go there).
func (s *Sender) remove(file *state.Tx, e *Entry) error {
	s.Store.noteDelivered(e)
	if r := e.Report; r.Event == report.EventFiring && r.Incident != nil {
		st := incident.Load(file.Folder)
		if in := st.Get(r.Unit); in != nil && in.OpeningEntry == e.ID {
			for _, d := range e.Channels {
				if !d.Delivered.IsZero() {
					in.MarkDelivered(d.Channel)
				}
			}
			if err := incident.Save(file, st); err != nil {
				s.log().Warn("incident: could not record which channels got the opening report: its follow-ups may not go there", "unit", r.Unit, "error", err)
			}
		}
	}
	return s.Store.removeEntry(e.ID)
}

// applyResult puts a delivery's result in its record.
func applyResult(d *Delivery, res *notifiers.Result, now time.Time) {
	d.Attempts += res.Attempts
	switch {
	case res.OK():
		d.Delivered, d.LastError = now, ""
	case res.Retry:
		d.LastError, d.LastTry = res.Err.Error(), now
	default:
		d.Failed = res.Err.Error()
	}
}

// record writes what was delivered, under the lock, and gives back the
// tokens of deliveries that were not attempted. If the lock cannot be had,
// nothing is recorded: the reports stay and go again with the same ids.
func (s *Sender) record(ctx context.Context, items []*item, claims map[string]*state.Claim, out *Outcome) {
	log := s.log()
	defer func() {
		for _, c := range claims {
			c.Release()
		}
	}()
	for _, it := range items {
		if it.own || it.res == nil {
			continue
		}
		r := it.res
		attrs := []any{"unit", it.e.Report.Unit, "channel", it.ch.String(), "report_id", it.d.ReportID, "created", it.e.Created.UTC().Format(time.RFC3339), "attempt", r.Attempts, "duration", r.Duration.Round(time.Millisecond)}
		switch {
		case r.OK() && it.e.Report.Refresh:
			// Every flush sends one per open incident: not worth a line.
			out.Refreshed++
		case r.OK():
			out.Redelivered++
			log.Info("outbox: delivered a report that waited", attrs...)
		case r.Retry:
			log.Warn("outbox: not delivered yet: the report stays in the outbox", append(attrs, "error", r.Err)...)
		default:
			out.Refused++
			log.Error("outbox: the channel refused the report for good: it is not tried again", append(attrs, "error", r.Err)...)
		}
	}
	if len(claims) == 0 {
		return
	}
	// Recording must happen even when the run's deadline has passed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.Store.f.Update(ctx, func(file *state.Tx) error {
		s.recordLocked(file, items, claims, out)
		return nil
	})
	if err != nil {
		log.Error("outbox: deliveries could not be recorded: they will be sent again with the same ids", "error", err)
	}
}

// recordLocked is the part of record that holds the lock.
func (s *Sender) recordLocked(file *state.Tx, items []*item, claims map[string]*state.Claim, out *Outcome) {
	log := s.log()
	now := s.now()
	refund := false
	for _, it := range items {
		if it.reserved && it.res == nil {
			refund = true
		}
	}
	if refund {
		st := gate.Load(file.Folder)
		for _, it := range items {
			if it.reserved && it.res == nil {
				st.Refund(it.ch.Name, s.Rates[it.ch.Name], now)
			}
		}
		if err := gate.Save(file, st); err != nil {
			log.Warn("state: unused rate-limit tokens could not be given back", "error", err)
		}
	}
	byEntry := map[string][]*item{}
	for _, it := range items {
		byEntry[it.e.ID] = append(byEntry[it.e.ID], it)
	}
	for id := range claims {
		e := s.Store.readEntry(id)
		if e == nil {
			continue
		}
		for _, it := range byEntry[id] {
			d := e.delivery(it.d.Channel)
			if d == nil || it.res == nil || it.recorded {
				continue
			}
			applyResult(d, it.res, now)
		}
		if e.Done() {
			if err := s.remove(file, e); err != nil {
				log.Warn("outbox: a delivered report could not be removed: it may be sent again with the same id", "unit", e.Report.Unit, "error", err)
			}
			continue
		}
		out.Waiting++
		if err := s.Store.putEntry(e); err != nil {
			log.Error("outbox: deliveries could not be recorded: they will be sent again with the same ids", "unit", e.Report.Unit, "error", err)
		}
	}
}

// ownResults is the new report's result on each channel.
func (s *Sender) ownResults(own *Entry, items []*item, claimed bool, claimErr error) []notifiers.Result {
	results := make([]notifiers.Result, 0, len(s.Channels))
	for _, ch := range s.Channels {
		res := notifiers.Result{Channel: ch}
		d := own.delivery(ch.Name)
		var it *item
		for _, x := range items {
			if x.e.ID == own.ID && x.ch.Name == ch.Name {
				it = x
			}
		}
		switch {
		case d == nil:
			res.Err = errors.New("not in this report's outbox entry (the channel was added after it was saved)")
		case it != nil && it.res != nil:
			res = *it.res
		case d.Delivered.IsZero() && d.Failed != "":
			res.Err = fmt.Errorf("refused earlier: %s", d.Failed)
		case !d.Delivered.IsZero():
			// Delivered by an earlier run for the same failed run.
		case claimErr != nil:
			res.Err, res.Retry = claimErr, true
		case !claimed:
			res.Err, res.Retry = errors.New("another odoo-notify process is delivering this report"), true
		case it != nil && it.skip != "":
			res.Err, res.Retry = fmt.Errorf("waits in the outbox: %s", it.skip), true
		default:
			res.Err, res.Retry = errors.New("waits in the outbox"), true
		}
		results = append(results, res)
	}
	return results
}

// direct delivers without the state folder: no dedup, no rate limits, no
// outbox. A report must never be lost because a disk is full or read-only.
func (s *Sender) direct(ctx context.Context, rep *report.Report, why error) Outcome {
	if why == nil {
		why = errors.New("no state folder")
	}
	s.log().Warn("state folder unusable: delivering without dedup, rate limits nor outbox; a failed delivery will not be retried; fix the folder (--state-dir, StateDirectory=)", "unit", rep.Unit, "error", why)
	results := s.Dispatcher.Dispatch(ctx, s.Channels, rep, func(ch notifiers.Channel) *report.Report {
		r := *rep
		r.ID = ReportID(rep, ch.Name)
		return &r
	})
	return Outcome{Verdict: gate.Send, Own: results, Sent: rep, Degraded: why}
}

// Quiet resolves unit's open incident when the trouble it opened for is
// over without the unit ever failing (a degraded spell gone quiet, as its
// watcher saw): its one recovery notice, with summary when given. An
// incident opened by something else (a crash, a hang) is left to resolve
// its own way. resolved says no incident of cause is open any more.
func (s *Sender) Quiet(ctx context.Context, unit, cause string, u incident.Unit, summary string) (out Outcome, resolved bool) {
	if s.Store == nil {
		out.Degraded = s.StoreErr
		return out, false
	}
	s.run(ctx, &out, func(tx *tx) (*Entry, error) {
		in := tx.inc.Get(unit)
		if in == nil || !in.Announced || in.Cause != cause {
			resolved = true
			return nil, nil
		}
		tx.inc.Resolve(unit, u.Since, tx.now)
		rep := s.recoveryReport(in, u)
		if summary != "" {
			rep.Summary = summary
		}
		if _, err := s.putIncident(tx, in, rep, report.EventResolved); err != nil {
			s.log().Error("incident: the recovery notice could not be saved: the incident stays open", "unit", unit, "incident", in.ID, "error", err)
			tx.inc.Reopen(in)
			return nil, nil
		}
		out.Resolved++
		resolved = true
		return nil, nil
	})
	return out, resolved
}
