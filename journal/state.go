package journal

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"golang.org/x/sys/unix"
)

// Where a State came from.
const (
	SourceEnv     = "monitor-env"
	SourceDBus    = "dbus"
	SourceJournal = "journal"
	SourceHook    = "hook" // what ExecStopPost= recorded
)

// State is what systemd knows about the failed run.
type State struct {
	Unit         string
	InvocationID string // 32 hex digits
	Result       string // exit-code, signal, core-dump, watchdog, timeout, oom-kill, start-limit-hit, ...
	ExitCode     string // exited, killed, dumped
	ExitStatus   string // "3" for exited; signal name without SIG for killed/dumped: "KILL"
	NRestarts    int
	StartedAt    time.Time
	ExitedAt     time.Time
	Source       string // SourceEnv, SourceHook, SourceDBus or SourceJournal

	// StartLimitHit: systemd stopped restarting the unit ("Start request
	// repeated too quickly"). Set by StateFromEvents only; the other
	// sources cannot tell.
	StartLimitHit bool

	// From D-Bus only, for later analysis (zero when unknown).
	ExecStart []string // argv of the unit's (first) ExecStart
	MemoryMax uint64   // bytes, 0 = unlimited or unknown
}

// Crash is one failed run of a unit.
type Crash struct {
	Time         time.Time // when systemd logged the failure
	InvocationID string
	Result       string
	ExitCode     string
	ExitStatus   string
}

// StateFromEnv reads the state systemd >= 251 hands an OnFailure= handler:
// MONITOR_UNIT, MONITOR_SERVICE_RESULT, MONITOR_EXIT_CODE,
// MONITOR_EXIT_STATUS and MONITOR_INVOCATION_ID (systemd.exec(5),
// "Environment variables set or propagated by the service manager"). ok is
// false when they are not set, or when they describe another unit: systemd
// sets them only when exactly one unit triggered the handler.
func StateFromEnv(unit string, getenv func(string) string) (State, bool) {
	got := getenv("MONITOR_UNIT")
	if got == "" || (unit != "" && got != unit) {
		return State{}, false
	}
	s := State{
		Unit:         got,
		Result:       getenv("MONITOR_SERVICE_RESULT"),
		ExitCode:     getenv("MONITOR_EXIT_CODE"),
		ExitStatus:   exitStatus(getenv("MONITOR_EXIT_CODE"), getenv("MONITOR_EXIT_STATUS")),
		InvocationID: getenv("MONITOR_INVOCATION_ID"),
		Source:       SourceEnv,
	}
	if s.Result == "" && s.InvocationID == "" {
		return State{}, false
	}
	return s, true
}

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
	reFailed     = regexp.MustCompile(`Failed with result '([a-z-]+)'`)
	reExited     = regexp.MustCompile(`Main process exited, code=([a-z]+), status=(\d+)`)
	reRestart    = regexp.MustCompile(`restart counter is at (\d+)`)
	reStartLimit = regexp.MustCompile(`Start request repeated too quickly`)
	reStarted    = regexp.MustCompile(`^Started `)
)

// event is what one of systemd's messages says about a run.
type event struct {
	kind         string // "exit", "failed", "restart", "started", "start-limit"
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
		ev.exitCode, ev.exitStatus = code, exitStatus(code, status)
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
// < 251 where D-Bus cannot be reached.
func StateFromEvents(unit string, events []Entry) (State, bool) {
	var (
		s        State
		failed   bool
		cur      run
		restarts int
		prevKind string
	)
	for _, e := range events {
		ev, ok := classify(e)
		if !ok {
			continue
		}
		switch ev.kind {
		case "started":
			// systemd resets the restart counter when a unit is started
			// by hand rather than by its Restart= logic.
			if prevKind != "restart" {
				restarts = 0
			}
			cur = run{id: ev.invocationID, startedAt: e.Time}
		case "exit", "success":
			if cur.reported {
				// An exit after a reported failure: a new run whose start
				// line is missing.
				cur = run{}
			}
			if ev.kind == "exit" || cur.exit.kind == "" {
				cur.exit, cur.exitAt = ev, e.Time
			}
		case "restart":
			restarts = ev.nRestarts
		case "start-limit":
			if failed && cur.repeats(ev, s.InvocationID) {
				s.StartLimitHit = true
				break
			}
			s = newState(cur, ev, resultStartLimit)
			s.StartLimitHit = true
			cur.reported, failed = true, true
		case "failed":
			if failed && cur.repeats(ev, s.InvocationID) {
				s.Result = ev.result
				s.StartLimitHit = s.StartLimitHit || ev.result == resultStartLimit
				break
			}
			s = newState(cur, ev, ev.result)
			s.StartLimitHit = ev.result == resultStartLimit
			cur.reported, failed = true, true
		}
		prevKind = ev.kind
	}
	if !failed {
		return State{}, false
	}
	s.Unit, s.NRestarts, s.Source = unit, restarts, SourceJournal
	return s, true
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

// Crashes lists every failed run found in events (Events, oldest first),
// oldest first: each "Failed with result" with the exit of that run. A
// start-limit-hit is not a run (nothing was started) and is not listed, nor
// is systemd's second "Failed with result" for a run the start limit
// stopped; StateFromEvents reports both.
func Crashes(events []Entry) []Crash {
	var out []Crash
	var cur run
	for _, e := range events {
		ev, ok := classify(e)
		if !ok {
			continue
		}
		switch ev.kind {
		case "started":
			cur = run{id: ev.invocationID, startedAt: e.Time}
		case "exit":
			if cur.reported {
				cur = run{}
			}
			cur.exit, cur.exitAt = ev, e.Time
		case "failed":
			if ev.result == resultStartLimit || (len(out) > 0 && cur.repeats(ev, out[len(out)-1].InvocationID)) {
				continue
			}
			id, code, status, _ := cur.failure(ev)
			out = append(out, Crash{Time: e.Time, InvocationID: id, Result: ev.result, ExitCode: code, ExitStatus: status})
			cur.reported = true
		}
	}
	return out
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// exitStatus returns status as systemd's MONITOR_EXIT_STATUS writes it: the
// number for code "exited", the signal name without SIG for "killed" and
// "dumped".
func exitStatus(code, status string) string {
	if code != "killed" && code != "dumped" {
		return status
	}
	n, err := strconv.Atoi(status)
	if err != nil {
		return strings.TrimPrefix(status, "SIG")
	}
	return signalName(n)
}

// signalName returns "KILL" for 9; the number as text when unknown.
func signalName(n int) string {
	if name := unix.SignalName(unix.Signal(n)); name != "" {
		return strings.TrimPrefix(name, "SIG")
	}
	return strconv.Itoa(n)
}

// StderrIsJournalStream reports whether stderr is connected to journald,
// which timestamps each line itself: a logger can then leave the time out.
func StderrIsJournalStream() bool {
	ok, err := journal.StderrIsJournalStream()
	return err == nil && ok
}

// Activity is what a unit is doing now.
type Activity struct {
	Unit string
	// ActiveState and SubState as systemctl shows them: "active" "running",
	// "failed" "failed", "activating" "auto-restart".
	ActiveState, SubState string
	// Since is when the unit last became active (ActiveEnterTimestamp).
	Since        time.Time
	InvocationID string
	Source       string // SourceDBus or SourceJournal
}

// Active says the unit runs: active or reloading.
func (a Activity) Active() bool { return a.ActiveState == "active" || a.ActiveState == "reloading" }

// ActivityFromEvents rebuilds what unit is doing as of the end of events
// (Events, oldest first), for an offline journal: active since its last
// "Started" line when nothing ended that run after it.
func ActivityFromEvents(unit string, events []Entry) Activity {
	a := Activity{Unit: unit, Source: SourceJournal, ActiveState: "inactive", SubState: "dead"}
	for _, e := range events {
		ev, ok := classify(e)
		if !ok {
			continue
		}
		switch ev.kind {
		case "started":
			a.ActiveState, a.SubState, a.Since, a.InvocationID = "active", "running", e.Time, ev.invocationID
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
	return a
}
