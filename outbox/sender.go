package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/odoo-notify/odoo-notify/gate"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
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
	// Own is the new report's result on each channel, in the channels'
	// order; empty when it was held back.
	Own []notifiers.Result
	// Redelivered counts deliveries of older reports and digests.
	Redelivered int
	// Digests counts the digests put in the outbox by Flush.
	Digests int
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

// Dispatch takes rep through the gate (unless bypass, for `test`), puts it in
// the outbox before any send, and delivers what is pending, oldest first,
// inside ctx's deadline. It sets rep.Held when the report carries earlier
// held-back failures.
func (s *Sender) Dispatch(ctx context.Context, rep *report.Report, bypass bool) Outcome {
	if s.Store == nil {
		return s.direct(ctx, rep, s.StoreErr)
	}
	var out Outcome
	s.run(ctx, &out, func(st *gate.State, now time.Time) (*Entry, error) {
		if !bypass {
			d := st.Decide(gate.FailureOf(rep), s.Limits, now)
			out.Verdict, out.Until = d.Verdict, d.Until
			if d.Verdict != gate.Send {
				return nil, nil
			}
			rep.Held, out.Held = d.Held, d.Held
		}
		e := newEntry(rep, s.Channels, now)
		if old := s.Store.readEntry(e.ID); old != nil {
			// The same failed run is already in the outbox (the dedup state
			// was lost): deliver that one, keeping what it delivered.
			return old, nil
		}
		if err := s.Store.putEntry(e); err != nil {
			return nil, err
		}
		return e, nil
	})
	if out.Degraded != nil {
		return s.direct(ctx, rep, out.Degraded)
	}
	return out
}

// Flush puts a digest in the outbox for every unit whose held-back failures
// were never reported and whose hold has ended, then delivers everything
// pending, oldest first.
func (s *Sender) Flush(ctx context.Context) Outcome {
	var out Outcome
	if s.Store == nil {
		out.Degraded = s.StoreErr
		return out
	}
	s.run(ctx, &out, func(st *gate.State, now time.Time) (*Entry, error) {
		for _, d := range st.Digests(s.Limits, now) {
			rep := s.digestReport(d, now)
			if err := s.Store.putEntry(newEntry(rep, s.Channels, now)); err != nil {
				s.log().Error("outbox: a digest of held-back failures could not be saved", "unit", d.Unit, "held", d.Held.Count, "since", d.Held.Since, "error", err)
				continue
			}
			out.Digests++
		}
		return nil, nil
	})
	return out
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
}

// run is one pass: under the lock, prepare (the gate, the new entry) and
// plan; then deliver without the lock; then, under the lock, record.
func (s *Sender) run(ctx context.Context, out *Outcome, prepare func(*gate.State, time.Time) (*Entry, error)) {
	log := s.log()
	unlock, err := s.Store.lock(ctx)
	if err != nil {
		out.Degraded = err
		return
	}
	now := s.now()
	st := s.Store.loadGate()
	own, err := prepare(st, now)
	if err != nil {
		unlock()
		out.Degraded = err
		return
	}
	items, claims, ownClaimed := s.plan(ctx, st, own, now, out)
	st.Prune(s.Limits, s.MaxAge, now, s.Rates)
	if err := s.Store.saveGate(st); err != nil {
		log.Warn("state: the dedup state could not be saved: the next run may report this failure again", "error", err)
	}
	unlock()

	s.deliver(ctx, items, time.Now())

	s.record(ctx, items, claims, out)
	if own != nil {
		out.Own = s.ownResults(own, items, ownClaimed, out.claimErr)
	}
}

// plan claims the entries this process will deliver, drops those too old,
// and reserves a token for each delivery. It runs under the lock.
func (s *Sender) plan(ctx context.Context, st *gate.State, own *Entry, now time.Time, out *Outcome) (items []*item, claims map[string]*claim, ownClaimed bool) {
	log := s.log()
	claims = map[string]*claim{}
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
	for _, e := range s.Store.entries() {
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
			s.drop(e, now)
			out.Dropped++
			c.release()
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
func (s *Sender) drop(e *Entry, now time.Time) {
	for _, d := range e.Channels {
		if d.Done() {
			continue
		}
		s.log().Error("outbox: dropped a report that could not be delivered within max_age",
			"unit", e.Report.Unit, "channel", d.Channel, "report_id", d.ReportID, "subject", e.Report.Subject(),
			"created", e.Created.UTC().Format(time.RFC3339), "max_age", s.MaxAge, "attempt", d.Attempts, "last_error", d.LastError)
	}
	if err := s.Store.removeEntry(e.ID); err != nil {
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
				if it.skip != "" {
					continue
				}
				if stopped != "" {
					it.skip = stopped
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
	unlock, err := s.Store.lock(ctx)
	if err != nil {
		return false
	}
	defer unlock()
	e := s.Store.readEntry(it.e.ID)
	if e == nil {
		return false
	}
	d := e.delivery(it.d.Channel)
	if d == nil {
		return false
	}
	applyResult(d, it.res, s.now())
	if err := s.Store.putEntry(e); err != nil {
		s.log().Warn("outbox: a delivery could not be recorded yet; the end of the run tries again", "unit", e.Report.Unit, "channel", it.ch.String(), "error", err)
		return false
	}
	return true
}

// applyResult puts a delivery's result in its record.
func applyResult(d *Delivery, res *notifiers.Result, now time.Time) {
	d.Attempts += res.Attempts
	switch {
	case res.OK():
		d.Delivered, d.LastError = now, ""
	case res.Retry:
		d.LastError = res.Err.Error()
	default:
		d.Failed = res.Err.Error()
	}
}

// record writes what was delivered, under the lock, and gives back the
// tokens of deliveries that were not attempted. If the lock cannot be had,
// nothing is recorded: the reports stay and go again with the same ids.
func (s *Sender) record(ctx context.Context, items []*item, claims map[string]*claim, out *Outcome) {
	log := s.log()
	defer func() {
		for _, c := range claims {
			c.release()
		}
	}()
	for _, it := range items {
		if it.own || it.res == nil {
			continue
		}
		r := it.res
		attrs := []any{"unit", it.e.Report.Unit, "channel", it.ch.String(), "report_id", it.d.ReportID, "created", it.e.Created.UTC().Format(time.RFC3339), "attempt", r.Attempts, "duration", r.Duration.Round(time.Millisecond)}
		switch {
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
	unlock, err := s.Store.lock(ctx)
	if err != nil {
		log.Error("outbox: deliveries could not be recorded: they will be sent again with the same ids", "error", err)
		return
	}
	defer unlock()
	now := s.now()
	refund := false
	for _, it := range items {
		if it.reserved && it.res == nil {
			refund = true
		}
	}
	if refund {
		st := s.Store.loadGate()
		for _, it := range items {
			if it.reserved && it.res == nil {
				st.Refund(it.ch.Name, s.Rates[it.ch.Name], now)
			}
		}
		if err := s.Store.saveGate(st); err != nil {
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
			if err := s.Store.removeEntry(id); err != nil {
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
	return Outcome{Verdict: gate.Send, Own: results, Degraded: why}
}
