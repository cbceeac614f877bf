package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/journal"
	"github.com/odoo-notify/odoo-notify/outbox"
	"github.com/odoo-notify/odoo-notify/report"
)

// maxHistoryEvents bounds how many of systemd's messages about a unit
// history and preview --invocation read: about 1,000 failed runs.
const maxHistoryEvents = 5000

// historyRun is one failed run in `odoo-notify history`.
type historyRun struct {
	Time         time.Time `json:"time"`
	InvocationID string    `json:"invocation_id"`
	Result       string    `json:"result"`
	ExitCode     string    `json:"exit_code,omitempty"`
	ExitStatus   string    `json:"exit_status,omitempty"`
	Cause        string    `json:"cause,omitempty"`
	// Incident is the id of the incident the run belonged to, when the
	// state folder still knows it.
	Incident string `json:"incident,omitempty"`
	// Opened: this run's report opened the incident.
	Opened bool `json:"opened_incident,omitempty"`
	// Sent is what the state folder says went out for this run.
	Sent []historySent `json:"sent,omitempty"`
}

// historySent is one channel's part of what went out for a run: the
// opening report's channels (incidents.json), the last delivery per
// channel (delivered.json), and what still waits in the outbox.
type historySent struct {
	Channel string    `json:"channel"`
	Event   string    `json:"event,omitempty"`
	At      time.Time `json:"at,omitzero"`
	// Waiting: in the outbox, not delivered yet; LastError says why.
	Waiting   bool   `json:"waiting,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// historyIncident is one incident of the unit, open or resolved.
type historyIncident struct {
	ID          string    `json:"id"`
	State       string    `json:"state"` // open, resolved
	Opened      time.Time `json:"opened"`
	LastFailure time.Time `json:"last_failure"`
	Resolved    time.Time `json:"resolved,omitzero"`
	Failures    int       `json:"failures"`
	Causes      string    `json:"causes,omitempty"`
	// Delivered are the channels that got the opening report.
	Delivered []string `json:"delivered,omitempty"`
}

// incidentSlack is how much earlier than its incident's opening time a run
// may have ended and still belong to it: the opening time is the run's
// exit as the report knew it, or when the report was built.
const incidentSlack = time.Minute

// historyOf joins the failed runs the journal holds with the state folder's
// incidents, last deliveries and outbox: which incident each run belonged
// to and what went out for it. It is a pure function of what it is given.
func historyOf(unit string, runs []historyRun, inc *incident.State, ledger outbox.Ledger, pending []*outbox.Entry) ([]historyRun, []historyIncident) {
	var incs []*incident.Incident
	if inc != nil {
		for _, in := range inc.Closed {
			if in.Unit == unit {
				incs = append(incs, in)
			}
		}
		if in := inc.Open[unit]; in != nil {
			incs = append(incs, in)
		}
	}
	// opened says whether in's opening report was r's: the outbox entry
	// that opened it is named after the run.
	opened := func(r historyRun, in *incident.Incident) bool {
		return r.InvocationID != "" && in.OpeningEntry != "" &&
			in.OpeningEntry == outbox.EntryID(&report.Report{Unit: unit, InvocationID: r.InvocationID})
	}
	holds := func(r historyRun, in *incident.Incident, slack time.Duration) bool {
		if r.Time.Before(in.Opened.Add(-slack)) {
			return false
		}
		return in.Resolved.IsZero() || !r.Time.After(in.Resolved)
	}
	// A run belongs to the incident that names it (its opening run, its
	// last failure), else to the one whose time span holds it, else to one
	// that opened within incidentSlack after it; never to an incident that
	// already holds as many runs as it counted failures.
	of := make([]*incident.Incident, len(runs))
	n := map[*incident.Incident]int{}
	passes := []func(historyRun, *incident.Incident) bool{
		func(r historyRun, in *incident.Incident) bool {
			return opened(r, in) || (r.InvocationID != "" && r.InvocationID == in.LastInvocation)
		},
		func(r historyRun, in *incident.Incident) bool { return holds(r, in, 0) },
		func(r historyRun, in *incident.Incident) bool { return holds(r, in, incidentSlack) },
	}
	for _, match := range passes {
		for i, r := range runs {
			if of[i] != nil {
				continue
			}
			for k := len(incs) - 1; k >= 0; k-- {
				if in := incs[k]; n[in] < max(in.Failures, 1) && match(r, in) {
					of[i] = in
					n[in]++
					break
				}
			}
		}
	}
	used := map[string]bool{}
	out := slices.Clone(runs)
	for i := range out {
		r := &out[i]
		if in := of[i]; in != nil {
			r.Incident, r.Opened = in.ID, opened(*r, in)
			used[in.ID] = true
		}
		if r.InvocationID == "" {
			continue
		}
		key := &report.Report{Unit: unit, InvocationID: r.InvocationID}
		for _, ch := range slices.Sorted(maps.Keys(ledger[unit])) {
			if l := ledger[unit][ch]; l.ReportID == outbox.ReportID(key, ch) {
				r.Sent = append(r.Sent, historySent{Channel: ch, Event: firstSet(l.Event, "report"), At: l.At})
			}
		}
		if r.Opened {
			for _, in := range incs {
				if in.ID != r.Incident {
					continue
				}
				for _, ch := range in.Delivered {
					if !slices.ContainsFunc(r.Sent, func(s historySent) bool { return s.Channel == ch }) {
						r.Sent = append(r.Sent, historySent{Channel: ch, Event: report.EventFiring})
					}
				}
			}
		}
		for _, e := range pending {
			if e.Report == nil || e.Report.Unit != unit || e.Report.InvocationID != r.InvocationID || e.Report.Test {
				continue
			}
			for _, d := range e.Channels {
				if slices.ContainsFunc(r.Sent, func(s historySent) bool { return s.Channel == d.Channel }) {
					continue
				}
				s := historySent{Channel: d.Channel, Event: firstSet(e.Report.Event, "report"), At: d.Delivered}
				if !d.Done() {
					s.Waiting, s.LastError = true, d.LastError
				} else if d.Failed != "" {
					s.LastError = "refused: " + d.Failed
				}
				r.Sent = append(r.Sent, s)
			}
		}
	}
	var hi []historyIncident
	for _, in := range incs {
		if !used[in.ID] {
			continue
		}
		h := historyIncident{ID: in.ID, State: "open", Opened: in.Opened, LastFailure: in.LastFailure, Resolved: in.Resolved,
			Failures: in.Failures, Causes: in.CauseText(), Delivered: in.Delivered}
		if !in.Resolved.IsZero() {
			h.State = "resolved"
		}
		hi = append(hi, h)
	}
	return out, hi
}

// parseSince reads --since: a Go duration ("36h", "90m") or days ("7d").
func parseSince(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err == nil && n > 0 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--since %q: give a duration like 7d, 36h or 90m", s)
	}
	return d, nil
}

// runHistory lists the unit's failed runs still in the journal, each with
// its cause, and the incidents they belonged to.
func runHistory(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "history")
	var jf journalFlags
	jf.register(f)
	sinceFlag := f.String("since", "7d", "list the runs of this last `span` (7d, 36h); of an offline journal, up to its last message about the unit")
	format := f.String("format", "text", "text or json")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("history: give exactly one unit, like history odoo.service")
	}
	unit, err := unitName(pos[0])
	if err != nil {
		return usageErr("history: %v", err)
	}
	span, err := parseSince(*sinceFlag)
	if err != nil {
		return usageErr("history: %v", err)
	}
	if *format != "text" && *format != "json" {
		return usageErr("history: --format must be text or json, not %q", *format)
	}
	if err := a.loadConfig(f); err != nil {
		return err
	}
	j, err := jf.open()
	if err != nil {
		if exitCode(err) == exitUsage {
			return err
		}
		return withCode(exitUnavailable, fmt.Errorf("history: %w", err))
	}
	defer j.Close()
	events, err := j.Events(unit, time.Time{}, maxHistoryEvents)
	if err != nil {
		return withCode(exitUnavailable, fmt.Errorf("history: %w", err))
	}
	// An offline journal is read as of its own end, as preview reads it.
	end := a.now()
	if jf.offline() && len(events) > 0 {
		end = events[len(events)-1].Time
	}
	since := end.Add(-span)

	var crashes []report.Crash
	for _, c := range journal.Crashes(events) {
		if !c.Time.Before(since) {
			crashes = append(crashes, report.Crash{Time: c.Time, InvocationID: c.InvocationID, Result: c.Result, ExitCode: c.ExitCode, ExitStatus: c.ExitStatus})
		}
	}
	a.causesOf(unit, crashes, j, "", nil)
	runs := make([]historyRun, len(crashes))
	for i, c := range crashes {
		runs[i] = historyRun{Time: c.Time, InvocationID: c.InvocationID, Result: c.Result, ExitCode: c.ExitCode, ExitStatus: c.ExitStatus, Cause: c.Cause}
	}

	var (
		inc     *incident.State
		ledger  outbox.Ledger
		pending []*outbox.Entry
	)
	stateNote := ""
	if st, err := a.openStore(); err != nil {
		stateNote = "incidents and deliveries unknown: " + err.Error()
		a.log.Warn("history: the state folder cannot be read: runs are listed without their incidents", "error", err)
	} else {
		inc, pending = st.Incidents(), st.Pending()
		ledger = st.Delivered()
	}
	runs, incs := historyOf(unit, runs, inc, ledger, pending)

	if *format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Unit      string            `json:"unit"`
			Since     time.Time         `json:"since"`
			Runs      []historyRun      `json:"runs"`
			Incidents []historyIncident `json:"incidents"`
			Problem   string            `json:"problem,omitempty"`
		}{unit, since, nonNil(runs), nonNil(incs), stateNote})
	}
	printHistory(a, unit, since, span, runs, incs, stateNote)
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func printHistory(a *app, unit string, since time.Time, span time.Duration, runs []historyRun, incs []historyIncident, note string) {
	w := a.stdout
	at := func(t time.Time) string {
		if t.IsZero() {
			return "?"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	}
	if len(runs) == 0 {
		fmt.Fprintf(w, "%s: no failed run in the journal since %s\n", unit, at(since))
		return
	}
	fmt.Fprintf(w, "%s: %d failed run(s) since %s\n\n", unit, len(runs), at(since))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tRESULT\tEXIT\tCAUSE\tINVOCATION\tINCIDENT")
	for _, r := range runs {
		exit := strings.TrimSpace(r.ExitCode + " " + r.ExitStatus)
		inc := firstSet(r.Incident, "-")
		if r.Opened {
			inc += " (opened)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", at(r.Time), firstSet(r.Result, "?"), firstSet(exit, "?"), firstSet(r.Cause, "?"), firstSet(r.InvocationID, "?"), inc)
	}
	tw.Flush()
	for _, r := range runs {
		if len(r.Sent) == 0 {
			continue
		}
		var parts []string
		for _, s := range r.Sent {
			p := s.Channel + " " + s.Event
			switch {
			case s.Waiting && s.LastError != "":
				p += " waiting (" + s.LastError + ")"
			case s.Waiting:
				p += " waiting"
			case s.LastError != "":
				p += " " + s.LastError
			case !s.At.IsZero():
				p += " at " + at(s.At)
			}
			parts = append(parts, p)
		}
		fmt.Fprintf(w, "sent for %s: %s\n", r.InvocationID, strings.Join(parts, "; "))
	}
	if len(incs) > 0 {
		fmt.Fprintln(w, "\nIncidents:")
	}
	for _, in := range incs {
		s := fmt.Sprintf("  %s %s: opened %s, %d failure(s) (%s), last %s", in.ID, in.State, at(in.Opened), in.Failures, in.Causes, at(in.LastFailure))
		if !in.Resolved.IsZero() {
			s += ", resolved " + at(in.Resolved)
		}
		if len(in.Delivered) > 0 {
			s += "; opening report to " + strings.Join(in.Delivered, ", ")
		}
		fmt.Fprintln(w, s)
	}
	if note != "" {
		fmt.Fprintf(w, "\n%s\n", note)
	}
	fmt.Fprintf(w, "\nodoo-notify preview %s --invocation ID shows the report of one run.\n", unit)
}

// runEvents is systemd's messages about unit as they stood when run inv
// had just failed: from historyWindow before its failure to its end (the
// messages that still name it, such as the start limit's), so that the
// state and the crash history read from them are that run's. ok is false
// when the journal holds no failure of inv.
func runEvents(events []journal.Entry, inv string) (out []journal.Entry, failed time.Time, ok bool) {
	for _, c := range journal.Crashes(events) {
		if c.InvocationID == inv {
			failed, ok = c.Time, true
		}
	}
	if !ok {
		return nil, time.Time{}, false
	}
	from := failed.Add(-historyWindow)
	for _, e := range events {
		if e.Time.Before(from) {
			continue
		}
		if e.Time.After(failed) {
			if id := e.Fields["INVOCATION_ID"]; id != "" && id != inv {
				break // the next run
			}
		}
		out = append(out, e)
	}
	return out, failed, true
}
