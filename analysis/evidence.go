package analysis

import (
	"strconv"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/report"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// evidence is everything the lines say, gathered in one pass.
type evidence struct {
	// exception is the last traceback that ended the run (not one logged
	// for a web request or a cron job); nil when there is none.
	exception *report.Exception
	// uncaught says Python printed it itself rather than Odoo's logger.
	uncaught bool
	// chainCause is what the exception's own text shows, if anything.
	chainCause *decision
	// lines holds the last line that shows each cause, outside tracebacks
	// the server survived.
	lines map[string]decision
	oom   oomEvidence
	// facts is what systemd's (and a shell's) own lines said.
	facts unitFacts
	// partial is a traceback the lines end inside, its exception line
	// lost; nil when there is none.
	partial *report.Exception
	// errors are the kinds of error the run logged.
	errors []report.LoggedError
	port   string
	pids   map[int]bool
	// n is the number of unfolded lines; fatalStart is where the fatal
	// traceback starts.
	n, fatalStart int
}

type oomEvidence struct {
	ours    bool
	line    string
	process string
	rss     uint64 // bytes
}

type pattern struct {
	cause, kind string
	re          *lazyre.Regexp
	// hint lists substrings ("a|b"), one of which every match holds, so
	// most lines cost one pass of lineWords and no regexp.
	hint string
}

// patterns are Odoo's, psycopg2's and Python's own words for each cause, in
// the order they are tried on one line.
var patterns = []pattern{
	{CausePortInUse, "", lazyre.New(`Address already in use`), "Address already in use"},
	{CausePortInUse, "", lazyre.New(`\[Errno (?:98|48)\]`), "[Errno 98]|[Errno 48]"},

	{CauseConfigError, "option", lazyre.New(`error: no such option: \S+`), "no such option"},
	{CauseConfigError, "addons", lazyre.New(`is not a valid addons directory|addons.?path.*(?:does not exist|no such directory|not a directory)`), "addons"},
	{CauseConfigError, "option", lazyre.New(`error: option -{1,2}[\w-]+: .+|error: unrecognized (?:arguments|parameters): .+|invalid (?:integer|choice|float) value`), "error: option|error: unrecognized|invalid integer|invalid choice|invalid float"},
	{CauseConfigError, "file", lazyre.New(`MissingSectionHeaderError|File contains no section headers|ParsingError: Source contains parsing errors|Duplicate(?:Option|Section)Error`), "MissingSectionHeader|no section headers|ParsingError|DuplicateOption|DuplicateSection"},
	{CauseConfigError, "file", lazyre.New(`(?:PermissionError|FileNotFoundError|IOError|IsADirectoryError): \[Errno \d+\] [^:]+: '[^']*(?:\.conf|\.cfg|odoorc)'`), "Error: [Errno "},

	{CauseDBUnreachable, "host", lazyre.New(`could not translate host name "[^"]*" to address.*`), "translate host"},
	{CauseDBUnreachable, "no-db", lazyre.New(`database "[^"]*" does not exist`), "does not exist"},
	{CauseDBUnreachable, "auth", lazyre.New(`password authentication failed for user "[^"]*"|no pg_hba\.conf entry for .*|fe_sendauth: no password supplied|authentication failed for user "[^"]*"`), "authentication failed|pg_hba|fe_sendauth"},
	{CauseDBUnreachable, "socket", lazyre.New(`connection to server on socket "[^"]*" failed: No such file or directory|could not connect to server: No such file or directory`), "No such file or directory"},
	{CauseDBUnreachable, "refused", lazyre.New(`(?:could not connect to server|connection to server at [^\n]*? failed): Connection refused`), "Connection refused"},
	{CauseDBUnreachable, "other", lazyre.New(`(?:could not connect to server|connection to server at [^\n]*? failed): .+|the database system is (?:starting up|shutting down|in recovery mode)|too many clients already|remaining connection slots are reserved|server closed the connection unexpectedly`), "could not connect to server|connection to server at|the database system is|too many clients|connection slots|server closed the connection"},
	{CauseDBUnreachable, "other", lazyre.New(`Connection to the database failed`), "Connection to the database failed"},

	{CauseWorkerTimeout, "real", lazyre.New(`\w*Worker\w* \(\d+\) timeout after \d+s|virtual real time limit(?: \([^)]*\))? reached`), "timeout after|virtual real time limit"},
	{CauseWorkerTimeout, "cpu", lazyre.New(`CPU time limit(?: \(\d+\))? (?:reached|exceeded)`), "CPU time limit"},
	{CauseWorkerTimeout, "memory", lazyre.New(`(?:virtual memory|[Ss]erver memory|memory) limit(?: \(\d+\))? (?:reached|exceeded)|^MemoryError\b`), "emory limit|MemoryError"},
}

// lineWords holds every pattern's hint words and "running on", the start
// of Odoo's line that names its port.
var lineWords *words

// patternMasks are each pattern's hint words in lineWords; runningOn is
// "running on"'s.
var (
	patternMasks []uint64
	runningOn    uint64
)

func init() {
	var list []string
	for _, p := range patterns {
		patternMasks = append(patternMasks, mask(&list, p.hint))
	}
	runningOn = mask(&list, "running on")
	lineWords = newWords(list, false)
}

// match returns the first pattern that matches text.
func match(text string) (decision, bool) {
	found, _ := lineWords.find(text)
	return matchWords(text, found)
}

// matchWords is match for a text whose lineWords are known.
func matchWords(text string, found uint64) (decision, bool) {
	if found == 0 {
		return decision{}, false
	}
	for i, p := range patterns {
		if found&patternMasks[i] == 0 {
			continue
		}
		if loc := p.re.FindStringIndex(text); loc != nil {
			return decision{cause: p.cause, kind: p.kind, line: oneLine(text, 300)}, true
		}
	}
	return decision{}, false
}

var portRe = lazyre.New(`running on [^\s]*:(\d{2,5})\b`)

func gather(es []entry, in Input) evidence {
	ev := evidence{lines: map[string]decision{}, pids: map[int]bool{}, n: len(es)}
	skip := make([]bool, len(es))
	cs := chains(es, tracebacks(es))
	// The last access line (which says the server went on) and where the
	// run's closing systemd lines start, found once for all tracebacks: a
	// log of a thousand tracebacks costs no more than one of a few.
	access, tail := lastAccess(es), tailStart(es)
	var fatal, partial *chain
	for k := range cs {
		c := &cs[k]
		if survived(es, *c, access) {
			for i := c.start(); i < c.end(); i++ {
				skip[i] = true
			}
			if c.record >= 0 {
				skip[c.record] = true
			}
			continue
		}
		if c.blocks[len(c.blocks)-1].exc.Type != "" {
			fatal = c
		} else if c.end() >= tail && hasFrame(es, *c) {
			partial = c
		}
	}
	if partial != nil && (fatal == nil || fatal.end() <= partial.start()) {
		x := exception(es, *partial)
		x.Type, x.Message = "", "exception line missing"
		ev.partial = x
	}
	if fatal != nil {
		ev.exception = exception(es, *fatal)
		ev.uncaught = fatal.record < 0
		ev.fatalStart = fatal.start()
		for i := fatal.start(); i < fatal.end(); i++ {
			if isIndented(es[i].text) && isFrame(es[i].text) {
				continue
			}
			if d, ok := match(strings.TrimSpace(es[i].text)); ok {
				ev.chainCause = &d
			}
		}
	}
	lastPid := 0
	for i, e := range es {
		if e.record && e.pid > 0 && e.pid != lastPid && len(ev.pids) < 1000 {
			// A server's records mostly carry the pid of the one before.
			ev.pids[e.pid] = true
			lastPid = e.pid
		}
		if skip[i] || e.text == "" {
			continue
		}
		// One pass finds every word of interest; the words of "running
		// on" are the same in the trimmed text.
		t := strings.TrimSpace(e.text)
		found, _ := lineWords.find(t)
		if found&runningOn != 0 {
			if m := portRe.FindStringSubmatch(e.text); m != nil {
				ev.port = m[1]
			}
		}
		if d, ok := matchWords(t, found); ok {
			d.at = i
			ev.lines[d.cause] = d
		}
	}
	ev.oom = oomOf(in, ev.pids)
	ev.errors = loggedErrors(es, in.Lines, cs, fatal)
	return ev
}

// hasFrame says a chain holds at least one frame line: a header alone is
// no traceback.
func hasFrame(es []entry, c chain) bool {
	for i := c.start(); i < c.end(); i++ {
		if isFrame(es[i].text) {
			return true
		}
	}
	return false
}

// tailStart is where the run's last lines start that are only systemd's
// and a shell's: nothing else follows an entry at or after it, the run
// ended there.
func tailStart(es []entry) int {
	i := len(es)
	for i > 0 && tailLine(strings.TrimSpace(es[i-1].text)) {
		i--
	}
	return i
}

func tailLine(t string) bool {
	return t == "" || strings.Contains(t, ".service") || strings.HasPrefix(t, "Main process exited") || strings.HasPrefix(t, "Failed with result") || shellStatus(t) != ""
}

// oomBefore and oomAfter are how far the kernel's time for an OOM kill may lie outside
// the run's: the kill comes before systemd sees the exit, but journald may
// read the kernel's lines late on a host short of memory.
const (
	oomBefore = 1 * time.Second
	oomAfter  = 10 * time.Second
)

// inRun says t falls inside the run from started to exited; an unknown
// time (zero) does not say otherwise.
func inRun(t, started, exited time.Time) bool {
	switch {
	case t.IsZero():
		return true
	case !started.IsZero() && t.Before(started.Add(-oomBefore)):
		return false
	case !exited.IsZero() && t.After(exited.Add(oomAfter)):
		return false
	}
	return true
}

// programMatch says the kernel's process name (comm, cut at 15 bytes) is
// the program's.
func programMatch(comm, program string) bool {
	n := strings.ToLower(comm)
	if program == "" {
		return strings.Contains(n, "python") || strings.Contains(n, "odoo")
	}
	p := strings.ToLower(program)
	if len(p) > 15 {
		p = p[:15]
	}
	return n == p || strings.HasPrefix(n, p)
}

// classify says what the fatal exception's own text shows.
func (ev evidence) classify() (decision, bool) {
	if ev.chainCause == nil {
		return decision{}, false
	}
	return *ev.chainCause, true
}

var (
	// "Out of memory: Killed process 1234 (python3) total-vm:..kB,
	// anon-rss:..kB, file-rss:..kB, shmem-rss:..kB"; older kernels say
	// "Kill process 1234 (python3) score 900 or sacrifice child".
	// CentOS 6's 2.6.32 wrote "Killed process 31217, UID 500, (python3)
	// total-vm:..kB, anon-rss:..kB, file-rss:..kB".
	killedRe = lazyre.New(`Kill(?:ed)? process (\d+)(?:, UID \d+,)? \(([^)]*)\)(?:.*?anon-rss:(\d+)kB, file-rss:(\d+)kB(?:, shmem-rss:(\d+)kB)?)?`)
	// "oom-kill:constraint=...,oom_memcg=/system.slice/odoo.service,
	// task_memcg=/system.slice/odoo.service,task=python3,pid=1234,uid=105"
	oomKillRe = lazyre.New(`oom-kill:.*?task_memcg=([^,\s]*).*?,pid=(\d+)`)
)

// oomOf finds the kernel's OOM kill of one of the unit's processes: by its
// cgroup where the kernel names it, else by a PID seen in the run's lines,
// else, as a last resort, by a process name that is the unit's main
// program's (Odoo's python3 or odoo when the program is not known) at a
// time inside the run: another python3 killed before the run started, or
// after it ended, was not the unit's.
func oomOf(in Input, pids map[int]bool) oomEvidence {
	unit, program := in.Unit, in.Program
	memcg := map[string]string{}
	var out oomEvidence
	for _, l := range in.Kernel {
		s := l.Message
		if len(s) > maxPiece {
			s = s[:maxPiece]
		}
		if !strings.Contains(s, "ill") {
			continue
		}
		if m := oomKillRe.FindStringSubmatch(s); m != nil {
			memcg[m[2]] = m[1]
			continue
		}
		m := killedRe.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		cg, named := memcg[m[1]]
		ours := false
		switch {
		case named && unit != "":
			ours = strings.HasSuffix(cg, "/"+unit) || strings.Contains(cg, "/"+unit+"/")
		case pids[pid]:
			ours = true
		case !named:
			ours = programMatch(m[2], program) && inRun(l.Time, in.Started, in.Exited)
		}
		if !ours {
			continue
		}
		out = oomEvidence{ours: true, line: oneLine(s, 300), process: m[1] + " " + m[2]}
		var kb uint64
		for _, v := range m[3:6] {
			n, _ := strconv.ParseUint(v, 10, 64)
			kb += n
		}
		out.rss = kb << 10
	}
	return out
}
