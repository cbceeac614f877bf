package journal

import (
	"strconv"
	"time"

	"github.com/odoo-notify/odoo-notify/facts"
	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// This file is the one reading of systemd's messages about a unit (Events,
// oldest first): a pure function of them, so that the unit's state, its
// crash history and what it does now cannot disagree about which run a
// message belongs to.

// MESSAGE_IDs systemd gives its messages about a unit's runs; see
// systemd's catalog/systemd.catalog.in.
const (
	msgProcessExit   = "98e322203f7a4ed290d09fe03c09fe15" // Main process exited, code=..., status=...
	msgUnitFailed    = "d9b373ed55a64feb8242e02dbe79a49c" // Failed with result '...'.
	msgRestart       = "5eb03494b6584870a536b337290809b3" // Scheduled restart job, restart counter is at N.
	msgUnitStarted   = "39f53479d3a045ac8e11786248231fbf" // Started ...
	msgUnitSuccess   = "7ad2d189f7e94e70a38c781354912448" // Deactivated successfully.
	resultStartLimit = "start-limit-hit"
)

// Older systemd and hand-written lines may lack the structured fields; the
// messages say the same thing.
var (
	reFailed     = lazyre.New(`Failed with result '([a-z-]+)'`)
	reExited     = lazyre.New(`Main process exited, code=([a-z]+), status=(\d+)`)
	reRestart    = lazyre.New(`restart counter is at (\d+)`)
	reStartLimit = lazyre.New(`Start request repeated too quickly`)
	reStarted    = lazyre.New(`^Started `)
)

// event is what one of systemd's messages says about a run.
type event struct {
	kind         string // "exit", "success", "failed", "restart", "started", "start-limit"
	invocationID string
	result       string
	exitCode     string
	exitStatus   string
	nRestarts    int
}

func classify(e Entry) (event, bool) {
	ev := event{invocationID: e.Fields[fieldInvocationID]}
	id := e.Fields[fieldMessageID]
	switch {
	case id == msgUnitFailed || reFailed.MatchString(e.Message):
		ev.kind = "failed"
		ev.result = e.Fields[fieldUnitResult]
		if ev.result == "" {
			if m := reFailed.FindStringSubmatch(e.Message); m != nil {
				ev.result = m[1]
			}
		}
	case id == msgProcessExit || reExited.MatchString(e.Message):
		ev.kind = "exit"
		code, status := e.Fields[fieldExitCode], e.Fields[fieldExitStatus]
		if code == "" {
			if m := reExited.FindStringSubmatch(e.Message); m != nil {
				code, status = m[1], m[2]
			}
		}
		ev.exitCode, ev.exitStatus = code, facts.ExitStatus(code, status)
	case id == msgRestart || reRestart.MatchString(e.Message):
		ev.kind = "restart"
		n := e.Fields[fieldNRestarts]
		if n == "" {
			if m := reRestart.FindStringSubmatch(e.Message); m != nil {
				n = m[1]
			}
		}
		ev.nRestarts, _ = strconv.Atoi(n)
	case id == msgUnitStarted || (id == "" && reStarted.MatchString(e.Message)):
		ev.kind = "started"
	case id == msgUnitSuccess:
		// A clean end logs no "Main process exited" at info level.
		ev.kind, ev.exitCode, ev.exitStatus = "success", "exited", "0"
	case reStartLimit.MatchString(e.Message):
		ev.kind = "start-limit"
		ev.result = resultStartLimit
	default:
		return event{}, false
	}
	return ev, true
}

// run is what systemd's messages have said so far about the current run.
type run struct {
	id        string
	startedAt time.Time
	exit      event
	exitAt    time.Time
	// reported: a failure of this run was already taken. systemd 252 logs
	// "Failed with result" a second time, for the same run, when the start
	// limit stops its restart.
	reported bool
	// clean: the run ended with "Deactivated successfully". systemd logs
	// either that or a failure when a run ends (service_enter_dead), so
	// what follows is about the next run, except the start limit's
	// refusal, which keeps the ended run's result and exit.
	clean bool
}

// failure returns the failed run that ev (a "failed" event) ends.
func (r run) failure(ev event) (id, code, status string, exitedAt time.Time) {
	id = firstOf(ev.invocationID, r.exit.invocationID, r.id)
	if r.exit.kind == "" || (r.exit.invocationID != "" && id != "" && r.exit.invocationID != id) {
		return id, "", "", time.Time{}
	}
	return id, r.exit.exitCode, r.exit.exitStatus, r.exitAt
}

// repeats reports whether ev, a failure, is about the run whose failure was
// already taken rather than a new one.
func (r run) repeats(ev event, lastID string) bool {
	return r.reported && (ev.invocationID == "" || ev.invocationID == lastID)
}

// History is what systemd's messages about a unit say, read in one pass.
type History struct {
	// Last is the state of the last failed run, when Failed.
	Last   State
	Failed bool
	// Crashes are the failed runs, oldest first. A start-limit-hit is not
	// a run (nothing was started) and is not listed, nor is systemd's
	// second "Failed with result" for a run the start limit stopped.
	Crashes []Crash
	// Activity is what the unit does as of the last message.
	Activity Activity
}

// Walk reads systemd's messages about unit (Events, oldest first) once and
// says what they tell: the last failed run's state, every failed run, and
// what the unit does at the end.
//
// A run is what lies between two "Started" lines. A run ends with a
// "Failed with result" or a "Deactivated successfully" line (systemd logs
// one of the two, service_enter_dead in src/core/service.c); an exit or
// failure line after that end is about a next run whose "Started" line is
// missing (cut off by Events' window, a start that failed in ExecStartPre=,
// or never logged). Two exceptions, both seen on systemd 252: a "Failed with
// result" line about the run whose failure was taken already repeats it
// (systemd logs it again when the start limit refuses the restart), and the
// start limit's refusal after a clean end is that run's (start-limit-hit,
// with its exit status 0).
func Walk(unit string, events []Entry) History {
	h := History{Activity: Activity{Unit: unit, Source: SourceJournal, ActiveState: "inactive", SubState: "dead"}}
	var (
		cur      run
		restarts int
		prevKind string
	)
	for _, e := range events {
		ev, ok := classify(e)
		if !ok {
			continue
		}
		follow(&h.Activity, ev, e.Time)
		switch ev.kind {
		case "started":
			// systemd resets the restart counter when a unit is started
			// by hand rather than by its Restart= logic.
			if prevKind != "restart" {
				restarts = 0
			}
			cur = run{id: ev.invocationID, startedAt: e.Time}
		case "exit", "success":
			if cur.reported || cur.clean {
				cur = run{}
			}
			// "Deactivated successfully" stands for the clean exit systemd
			// logs only at debug level; a real exit line wins.
			if ev.kind == "exit" || cur.exit.kind == "" {
				cur.exit, cur.exitAt = ev, e.Time
			}
			cur.clean = ev.kind == "success"
		case "restart":
			restarts = ev.nRestarts
		case "start-limit":
			if h.Failed && cur.repeats(ev, h.Last.InvocationID) {
				h.Last.StartLimitHit = true
				break
			}
			h.Last = newState(cur, ev, resultStartLimit)
			h.Last.StartLimitHit = true
			cur.reported, h.Failed = true, true
		case "failed":
			if h.Failed && cur.repeats(ev, h.Last.InvocationID) {
				h.Last.Result = ev.result
				h.Last.StartLimitHit = h.Last.StartLimitHit || ev.result == resultStartLimit
				break
			}
			if cur.clean && ev.result != resultStartLimit {
				cur = run{}
			}
			h.Last = newState(cur, ev, ev.result)
			h.Last.StartLimitHit = ev.result == resultStartLimit
			cur.reported, h.Failed = true, true
			if ev.result != resultStartLimit {
				h.Crashes = append(h.Crashes, Crash{Time: e.Time, InvocationID: h.Last.InvocationID, Result: ev.result,
					ExitCode: h.Last.ExitCode, ExitStatus: h.Last.ExitStatus})
			}
		}
		prevKind = ev.kind
	}
	if h.Failed {
		h.Last.Unit, h.Last.NRestarts, h.Last.Source = unit, restarts, SourceJournal
	}
	return h
}

// follow moves a to what ev, logged at t, says the unit does.
func follow(a *Activity, ev event, t time.Time) {
	switch ev.kind {
	case "started":
		a.ActiveState, a.SubState, a.Since, a.InvocationID = "active", "running", t, ev.invocationID
	case "exit":
		a.ActiveState, a.SubState = "deactivating", "stop-post"
	case "success":
		a.ActiveState, a.SubState = "inactive", "dead"
	case "failed", "start-limit":
		a.ActiveState, a.SubState = "failed", "failed"
	case "restart":
		a.ActiveState, a.SubState = "activating", "auto-restart"
	}
}

// newState is the state of run r that ev says failed with result.
func newState(r run, ev event, result string) State {
	id, code, status, at := r.failure(ev)
	s := State{InvocationID: id, Result: result, ExitCode: code, ExitStatus: status, ExitedAt: at}
	if r.id == "" || r.id == id {
		s.StartedAt = r.startedAt
	}
	return s
}

// StateFromEvents rebuilds the state of unit's last failed run from
// systemd's messages (Events, oldest first): the last "Failed with result"
// (UNIT_RESULT), the "Main process exited" (EXIT_CODE, EXIT_STATUS) of that
// run, the restart counter (N_RESTARTS) and the run's INVOCATION_ID. A
// "Start request repeated too quickly" line after it sets StartLimitHit.
//
// Result is what systemd says, so that this source agrees with the others:
// when the start limit stops a crash loop, systemd 252 keeps the last crash's
// result (exit-code, signal, ...); it reports start-limit-hit only when the
// runs before ended cleanly (Restart=always). Without a "Failed with result"
// line (older systemd), the start-limit line alone gives start-limit-hit.
//
// ok is false when events hold no failure. It is the fallback for systemd
// < 251 where D-Bus cannot be reached. It is Walk's Last.
func StateFromEvents(unit string, events []Entry) (State, bool) {
	h := Walk(unit, events)
	return h.Last, h.Failed
}

// Crashes lists every failed run found in events (Events, oldest first),
// oldest first: Walk's Crashes.
func Crashes(events []Entry) []Crash {
	return Walk("", events).Crashes
}

// ActivityFromEvents rebuilds what unit is doing as of the end of events
// (Events, oldest first), for an offline journal: active since its last
// "Started" line when nothing ended that run after it. It is Walk's
// Activity.
func ActivityFromEvents(unit string, events []Entry) Activity {
	return Walk(unit, events).Activity
}
