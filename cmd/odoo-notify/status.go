package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/outbox"
)

// flushTimer is the timer that runs odoo-notify flush.
const flushTimer = "odoo-notify-flush.timer"

// unitStatus is one unit in `odoo-notify status`.
type unitStatus struct {
	Unit string `json:"unit"`
	// Enabled: enable wrote its drop-in.
	Enabled     bool      `json:"enabled"`
	ActiveState string    `json:"active_state,omitempty"`
	SubState    string    `json:"sub_state,omitempty"`
	Since       time.Time `json:"since,omitzero"`
	StateError  string    `json:"state_error,omitempty"`

	Incident *incidentStatus        `json:"incident,omitempty"`
	Silence  *silenceStatus         `json:"silence,omitempty"`
	Outbox   map[string]*waiting    `json:"outbox,omitempty"`
	Last     map[string]outbox.Last `json:"last_delivery,omitempty"`
}

type incidentStatus struct {
	ID          string    `json:"id"`
	Since       time.Time `json:"since"`
	Failures    int       `json:"failures"`
	LastCause   string    `json:"last_cause"`
	Causes      string    `json:"causes"`
	LastFailure time.Time `json:"last_failure"`
	Announced   bool      `json:"announced"`
}

type silenceStatus struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason,omitempty"`
}

// waiting is what waits in the outbox for one channel.
type waiting struct {
	Reports   int       `json:"reports"`
	LastError string    `json:"last_error,omitempty"`
	LastTry   time.Time `json:"last_try,omitzero"`
	NextTry   time.Time `json:"next_try,omitzero"`
}

// runStatus says, for each unit enable wired (or UNIT), what systemd says
// of it now, its open incident, its silence, what waits in the outbox and
// the last delivery per channel. It exits 1 when an incident is open or a
// report waits, so a monitoring check can run it.
func runStatus(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "status")
	format := f.String("format", "text", "text or json")
	root := f.String("root", "/", "look for enable's drop-ins under this `dir`")
	var jf journalFlags
	jf.register(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErr("status: takes at most one unit")
	}
	if *format != "text" && *format != "json" {
		return usageErr("status: --format %q: give text or json", *format)
	}
	if err := a.loadConfig(f); err != nil {
		return err
	}
	st, err := a.openStore()
	if err != nil {
		return withCode(exitUnavailable, fmt.Errorf("status: %w: check the state folder (--state-dir)", err))
	}
	inc := st.Incidents()
	pending := st.Pending()
	ledger := st.Last(pending)

	enabled := enabledUnits(*root)
	names := slices.Clone(enabled)
	for u := range inc.Open {
		names = append(names, u)
	}
	for u := range inc.Silences {
		names = append(names, u)
	}
	for _, e := range pending {
		names = append(names, e.Report.Unit)
	}
	if len(pos) == 1 {
		u, err := unitName(pos[0])
		if err != nil {
			return usageErr("status: %v", err)
		}
		names = []string{u}
	}
	slices.Sort(names)
	names = slices.Compact(names)

	var next time.Time
	if !jf.offline() {
		next, _ = a.bus.TimerNext(ctx, flushTimer)
	}
	activity := a.unitActivity(jf)
	now := a.now()
	var out []*unitStatus
	trouble := false
	for _, name := range names {
		us := &unitStatus{Unit: name, Enabled: slices.Contains(enabled, name)}
		if act, err := activity(ctx, name); err != nil {
			us.StateError = err.Error()
		} else {
			state, sub, _ := strings.Cut(act.State, "/")
			us.ActiveState, us.SubState, us.Since = state, sub, act.Since
		}
		if in := inc.Get(name); in != nil {
			us.Incident = &incidentStatus{ID: in.ID, Since: in.Opened, Failures: in.Failures, LastCause: in.LastCause(), Causes: in.CauseText(), LastFailure: in.LastFailure, Announced: in.Announced}
			trouble = true
		}
		if sl := inc.Silences[name]; sl != nil && now.Before(sl.Until) {
			us.Silence = &silenceStatus{Until: sl.Until, Reason: sl.Reason}
		}
		for _, e := range pending {
			if e.Report.Unit != name {
				continue
			}
			for _, d := range e.Channels {
				if d.Done() {
					continue
				}
				if us.Outbox == nil {
					us.Outbox = map[string]*waiting{}
				}
				w := us.Outbox[d.Channel]
				if w == nil {
					w = &waiting{NextTry: next}
					us.Outbox[d.Channel] = w
				}
				w.Reports++
				if d.LastTry.After(w.LastTry) || w.LastError == "" {
					w.LastError, w.LastTry = d.LastError, d.LastTry
				}
				trouble = true
			}
		}
		us.Last = ledger[name]
		out = append(out, us)
	}

	if *format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"units": out}); err != nil {
			return err
		}
	} else {
		printStatus(a, out, now)
	}
	if trouble {
		return &exitError{code: exitFailure, err: errReported}
	}
	return nil
}

func printStatus(a *app, units []*unitStatus, now time.Time) {
	w := a.stdout
	if len(units) == 0 {
		fmt.Fprintln(w, "no unit is wired: odoo-notify enable UNIT")
		return
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return "?"
		}
		if now.Sub(t) < 24*time.Hour && t.YearDay() == now.YearDay() {
			return t.Local().Format("15:04:05")
		}
		return t.Local().Format("2006-01-02 15:04")
	}
	for _, u := range units {
		line := u.Unit + ": "
		switch {
		case u.StateError != "":
			line += "state unknown (" + u.StateError + ")"
		case u.ActiveState == "active":
			line += fmt.Sprintf("%s/%s since %s", u.ActiveState, u.SubState, at(u.Since))
		default:
			line += u.ActiveState + "/" + u.SubState
		}
		if !u.Enabled {
			line += " (not enabled: odoo-notify enable " + u.Unit + ")"
		}
		fmt.Fprintln(w, line)
		if in := u.Incident; in != nil {
			fmt.Fprintf(w, "  incident %s: open since %s, %d failure(s), last %s at %s (%s)\n", in.ID, at(in.Since), in.Failures, in.LastCause, at(in.LastFailure), in.Causes)
		} else {
			fmt.Fprintln(w, "  no open incident")
		}
		if s := u.Silence; s != nil {
			fmt.Fprintf(w, "  silenced until %s", at(s.Until))
			if s.Reason != "" {
				fmt.Fprintf(w, ": %s", s.Reason)
			}
			fmt.Fprintln(w)
		}
		for _, ch := range slices.Sorted(maps.Keys(u.Outbox)) {
			o := u.Outbox[ch]
			s := fmt.Sprintf("  outbox %s: %d waiting", ch, o.Reports)
			if o.LastError != "" {
				s += fmt.Sprintf(", last error at %s: %s", at(o.LastTry), o.LastError)
			}
			if !o.NextTry.IsZero() {
				s += ", next try " + at(o.NextTry)
			} else {
				s += ", next try at the next odoo-notify flush"
			}
			fmt.Fprintln(w, s)
		}
		for _, ch := range slices.Sorted(maps.Keys(u.Last)) {
			l := u.Last[ch]
			fmt.Fprintf(w, "  last to %s: %s at %s\n", ch, firstSet(l.Event, "report"), at(l.At))
		}
	}
}

// enabledUnits lists the units whose drop-in enable wrote, under root.
func enabledUnits(root string) []string {
	paths, _ := filepath.Glob(filepath.Join(root, systemUnitDir, "*.d", dropInName))
	var out []string
	for _, p := range paths {
		unit := strings.TrimSuffix(filepath.Base(filepath.Dir(p)), ".d")
		if strings.HasPrefix(unit, "odoo-notify") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(b), dropInMarker) {
			continue
		}
		out = append(out, unit)
	}
	return out
}
