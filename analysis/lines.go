package analysis

import (
	"strings"

	"github.com/odoo-notify/odoo-notify/report"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// Bounds that keep the analysis of hostile input (a 10 MB line, binary junk,
// a syslog line folded a million times) bounded in time and memory. The end
// of a log explains a crash, so where something must go, the start goes.
const (
	// maxInputLine is how much of one input line is looked at: the tail.
	maxInputLine = 256 << 10
	// maxPiece bounds one line after unfolding.
	maxPiece = 16 << 10
	// maxEntries bounds the unfolded lines analysed: the last ones.
	maxEntries = 20000
	// maxTraceback bounds Exception.Traceback: its end is kept.
	maxTraceback = 32 << 10
	// maxContinuation bounds the message lines after an exception line.
	maxContinuation = 20
)

// entry is one line of the failed run after prefixes (docker-compose,
// syslog, journalctl) were removed and syslog's #012 folding undone.
type entry struct {
	text   string
	logger string
	// stamp is Odoo's own "2006-01-02 15:04:05" when the record carried
	// one.
	stamp string
	pid   int
	// line is the index of the input line the entry came from.
	line int32
	// record says the line starts an Odoo log record; level and logger are
	// then set.
	record bool
	level  level
}

// level is a record's level among those the analysis tells apart; any
// other name is levelOther. A byte, not a string: the run's entries are
// most of the analysis's memory.
type level uint8

const (
	levelOther level = iota
	levelInfo
	levelWarning
	levelWarn
	levelError
	levelCritical
)

func levelOf(name string) level {
	switch name {
	case "INFO":
		return levelInfo
	case "WARNING":
		return levelWarning
	case "WARN":
		return levelWarn
	case "ERROR":
		return levelError
	case "CRITICAL":
		return levelCritical
	}
	return levelOther
}

var (
	ansiRe = lazyre.New(`\x1b\[[0-9;]*[A-Za-z]`)
	// docker compose v1 "odoo_1  | ", v2 "odoo-1  | ", or a container
	// name "odoo  | ".
	composeRe = lazyre.New(`^[A-Za-z0-9][\w.-]{0,63}\s+\| ?`)
	// journalctl short-iso "2024-05-01T10:00:00+0000 host ", and docker's
	// --timestamps "2023-05-08T06:30:32.991082827Z " (no host after it).
	isoRe = lazyre.New(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? `)
	// the syslog tag: "odoo[1234]: ", "kernel: ", "(cprofile)[148247]: ".
	tagRe = lazyre.New(`^[^\s:\[\]]+(?:\[\d+\])?: ?`)
	// a tag with a pid, the one form that cannot be a message's start.
	pidTagRe = lazyre.New(`^[\w.@()-]+\[\d+\]: ?`)
	// Odoo's --syslog format: "Odoo Server 16.0:db:ERROR:odoo.x:msg".
	odooSyslogRe = lazyre.New(`^Odoo Server [^:]*:([^:]*):([A-Z]+):([\w.\-]+):`)
	// a log viewer's "6/11/2020 14:26:06" glued to the line (Rancher).
	viewerRe = lazyre.New(`^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d\d:\d\d`)
	// balena's " gunicorn  " service-name prefix.
	balenaRe = lazyre.New(`^ [A-Za-z][\w.-]{1,40}  `)
)

// normalize unfolds the run's lines into entries, keeping the last
// maxEntries.
func normalize(lines []report.Line) []entry {
	out := make([]entry, 0, min(len(lines), maxEntries)+16)
	for i, l := range lines {
		n := len(out)
		out = appendLine(out, l.Message)
		for k := n; k < len(out); k++ {
			out[k].line = int32(i)
		}
		if len(out) > 2*maxEntries {
			out = append(out[:0], out[len(out)-maxEntries:]...)
		}
	}
	if len(out) > maxEntries {
		out = out[len(out)-maxEntries:]
	}
	return out
}

func appendLine(out []entry, s string) []entry {
	if len(s) > maxInputLine {
		s = s[len(s)-maxInputLine:]
	}
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = ansiRe.ReplaceAllString(s, "")
	}
	// A message may hold several lines (a journal entry written with
	// newlines, a log record with its traceback attached).
	for s != "" {
		var piece string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			piece, s = s[:i], s[i+1:]
		} else {
			piece, s = s, ""
		}
		out = appendPiece(out, strings.TrimRight(piece, "\r"))
	}
	return out
}

// appendPiece strips the prefixes of one physical line and undoes syslog's
// #012 folding.
func appendPiece(out []entry, s string) []entry {
	s = stripPrefixes(s)
	if catalogLine(s) {
		// journalctl -x's explanations are systemd's catalog, not the run.
		return out
	}
	if !strings.Contains(s, "#012") {
		return append(out, parseEntry(s))
	}
	for {
		i := strings.Index(s, "#012")
		if i < 0 {
			return append(out, parseEntry(strings.ReplaceAll(s, "#011", "\t")))
		}
		out = append(out, parseEntry(strings.ReplaceAll(s[:i], "#011", "\t")))
		s = s[i+4:]
	}
}

// stripPrefixes removes what the log's way to the reader put before the
// program's own line: a log driver's comma, a viewer's or docker's time,
// docker compose's and balena's service names, syslog's and journalctl's
// time, host and tag in every output mode and month language, dmesg-style
// monotonic stamps.
func stripPrefixes(s string) string {
	if s == "" {
		return s
	}
	if s[0] == ',' {
		s = s[1:]
	}
	if s != "" && s[0] >= '0' && s[0] <= '9' && len(s) > 16 {
		if s[1] == '/' || s[2] == '/' {
			if m := viewerRe.FindStringIndex(s); m != nil {
				s = s[m[1]:]
			}
		} else if s[4] == '-' && s[10] == 'T' {
			if m := isoRe.FindStringIndex(s); m != nil {
				if dockerStamp(s[:m[1]-1]) {
					s = s[m[1]:]
				} else {
					s = stripHostTag(s[m[1]:], true)
				}
			}
		}
	}
	if mayBeCompose(s) {
		if m := composeRe.FindStringIndex(s); m != nil {
			s = s[m[1]:]
			// docker compose logs -t: "odoo-1  | 2024-03-05T09:14:02.118Z ".
			if len(s) > 20 && s[4] == '-' && s[10] == 'T' {
				if m := isoRe.FindStringIndex(s); m != nil && dockerStamp(s[:m[1]-1]) {
					s = s[m[1]:]
				}
			}
		}
	}
	if len(s) > 3 && s[0] == ' ' && s[1] != ' ' {
		if m := balenaRe.FindStringIndex(s); m != nil && !pidTagRe.MatchString(s[1:]) {
			s = s[m[1]:]
		}
	}
	if n := syslogTime(s); n > 0 {
		s = stripHostTag(s[n:], false)
	} else if n := monotonicStamp(s); n > 0 {
		s = stripHostTag(s[n:], false)
	} else if len(s) > 2 && (s[0] == ' ' || isTagStart(s[0])) {
		// A tag with no time before it, as systemctl status and a
		// trimmed paste show it: "odoo[384165]: ...".
		t := strings.TrimLeft(s, " ")
		if len(s)-len(t) <= 1 {
			if m := pidTagRe.FindStringIndex(t); m != nil {
				s = t[m[1]:]
			}
		}
	}
	return s
}

// dockerStamp says an RFC 3339 time is docker's (docker logs -t, the
// json-file driver's time): UTC written "Z", or nanoseconds. journalctl's
// short-iso writes "+0000" and at most microseconds, and a host and a tag
// follow it; after docker's time comes the program's own line, whose
// "odoo: error: ..." must not be taken for a host and a tag.
func dockerStamp(t string) bool {
	if strings.HasSuffix(t, "Z") {
		return true
	}
	i := strings.IndexAny(t, ".,")
	if i < 0 {
		return false
	}
	n := 0
	for _, c := range t[i+1:] {
		if c < '0' || c > '9' {
			break
		}
		n++
	}
	return n > 6
}

func isTagStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '('
}

// stripHostTag removes "host tag[pid]: " (or "tag[pid]: " when the host
// is not there) after a time. Where what follows cannot be a host and a tag
// (docker's timestamps before a program's own line), optional says to
// leave it.
func stripHostTag(s string, optional bool) string {
	t := strings.TrimLeft(s, " ")
	if m := pidTagRe.FindStringIndex(t); m != nil {
		return t[m[1]:]
	}
	host, rest, ok := strings.Cut(t, " ")
	if ok && host != "" {
		if strings.HasPrefix(rest, "Odoo Server ") {
			return rest
		}
		if m := tagRe.FindStringIndex(rest); m != nil {
			return rest[m[1]:]
		}
	}
	if optional {
		return s
	}
	if ok {
		return rest
	}
	return t
}

// syslogTime measures syslog's and journalctl's "May  1 10:00:00 ",
// "déc. 11 08:29:20 ", "12月 21 22:22:32 ", "Jun 11 17:58:40.123456 ": a
// month word in any language, the day, the time.
func syslogTime(s string) int {
	if len(s) < 15 {
		return 0
	}
	i := strings.IndexByte(s[:min(len(s), 12)], ' ')
	if i < 2 {
		return 0
	}
	month := s[:i]
	if c := month[0]; c >= '0' && c <= '9' {
		if !strings.HasSuffix(month, "月") {
			return 0
		}
	} else if c == ' ' || c == '\t' || c == '[' || c == '"' || c == '\'' {
		return 0
	}
	j := i
	for j < len(s) && s[j] == ' ' {
		j++
	}
	d := j
	for j < len(s) && j-d < 2 && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == d || j >= len(s) || s[j] != ' ' {
		return 0
	}
	j++
	if len(s) < j+9 || !isClock(s[j:j+8]) {
		return 0
	}
	j += 8
	if s[j] == '.' {
		j++
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	}
	if j >= len(s) || s[j] != ' ' {
		return 0
	}
	return j + 1
}

func isClock(s string) bool {
	return len(s) == 8 && s[2] == ':' && s[5] == ':' && isDigits(s[0:2]) && isDigits(s[3:5]) && isDigits(s[6:8])
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// monotonicStamp measures journalctl -o short-monotonic's "[   24.136505] "
// when a tag follows it; the kernel's own dmesg lines keep theirs.
func monotonicStamp(s string) int {
	if len(s) < 6 || s[0] != '[' {
		return 0
	}
	i := strings.IndexByte(s, ']')
	if i < 3 || i > 20 || i+2 > len(s) || s[i+1] != ' ' {
		return 0
	}
	v := strings.TrimLeft(s[1:i], " ")
	a, b, ok := strings.Cut(v, ".")
	if !ok || !isDigits(a) || !isDigits(b) {
		return 0
	}
	if !pidTagRe.MatchString(s[i+2:]) {
		return 0
	}
	return i + 2
}

// catalogLine is journalctl -x's catalog text: "░░ Subject: ..." (or "-- "
// before systemd 246).
func catalogLine(s string) bool {
	return strings.HasPrefix(s, "░░") || strings.HasPrefix(s, "-- ")
}

// mayBeCompose is a cheap test that keeps most lines away from the regexp:
// " |" in the first 80 bytes. It looks for the rare '|', not the space.
func mayBeCompose(s string) bool {
	if len(s) > 80 {
		s = s[:80]
	}
	for i := 1; i < len(s); i++ {
		k := strings.IndexByte(s[i:], '|')
		if k < 0 {
			return false
		}
		i += k
		if s[i-1] == ' ' {
			return true
		}
	}
	return false
}

func parseEntry(s string) entry {
	if len(s) > maxPiece {
		s = s[:maxPiece]
	}
	if len(s) > 0 && (s[0] >= '0' && s[0] <= '9' || s[0] >= 'C' && s[0] <= 'W') {
		if e, ok := parseRecord(s); ok {
			return e
		}
	}
	if strings.HasPrefix(s, "Odoo Server ") {
		if m := odooSyslogRe.FindStringSubmatchIndex(s); m != nil {
			return entry{text: s[m[1]:], record: true, level: levelOf(s[m[4]:m[5]]), logger: s[m[6]:m[7]]}
		}
	}
	return entry{text: s}
}

// parseRecord reads Odoo's log format (odoo/netsvc.py) by hand, the
// hottest path of the analysis: "2024-05-01 10:00:00,123 1234 ERROR db
// odoo.x: msg", the time optional because ReadLog moves it to Line.Time.
func parseRecord(s string) (entry, bool) {
	stamp := ""
	if len(s) >= 24 && s[4] == '-' && s[10] == ' ' && s[13] == ':' && s[19] == ',' {
		stamp = s[:19]
		i := 20
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == len(s) || s[i] != ' ' {
			return entry{}, false
		}
		s = s[i+1:]
	}
	// The pid and the level are short: a word of at most 10 bytes before
	// a space, found without scanning the whole line.
	pid, rest, ok := shortWord(s, 10)
	if !ok || pid == "" {
		return entry{}, false
	}
	if isLevel(pid) && pid != "?" {
		// A paste cut before the pid: "ERROR ? odoo.http: ...".
		return parseLevel(pid, rest, 0, stamp)
	}
	n := 0
	for i := 0; i < len(pid); i++ {
		if pid[i] < '0' || pid[i] > '9' {
			return entry{}, false
		}
		n = n*10 + int(pid[i]-'0')
	}
	name, rest, ok := shortWord(rest, len("CRITICAL"))
	if !ok || !isLevel(name) {
		return entry{}, false
	}
	return parseLevel(name, rest, n, stamp)
}

// shortWord cuts s at its first space when that is within max bytes.
func shortWord(s string, max int) (word, rest string, ok bool) {
	for i := 0; i < len(s) && i <= max; i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// parseLevel reads "db logger: msg" after the level.
func parseLevel(name, rest string, pid int, stamp string) (entry, bool) {
	_, rest, ok := strings.Cut(rest, " ") // the database, "?" when none
	if !ok {
		return entry{}, false
	}
	// The logger's name runs to the first ':', every byte of it a name's.
	i := 0
	for i < len(rest) && rest[i] != ':' {
		c := rest[i]
		if !(c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return entry{}, false
		}
		i++
	}
	if i == 0 || i == len(rest) {
		return entry{}, false
	}
	logger, msg := rest[:i], rest[i+1:]
	return entry{text: strings.TrimPrefix(msg, " "), record: true, pid: pid, level: levelOf(name), logger: logger, stamp: stamp}, true
}

func isLevel(s string) bool {
	switch s {
	case "DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", "TEST", "NOTSET", "?":
		return true
	}
	return false
}

// levelPriority maps Odoo's level names to syslog priorities.
func levelPriority(level string) int {
	switch level {
	case "CRITICAL":
		return 2
	case "ERROR":
		return 3
	case "WARNING", "WARN":
		return 4
	case "DEBUG":
		return 7
	}
	return 6
}

// block is one Python traceback: entries [start, end).
type block struct {
	start, end int
	exc        report.Exception
	frames     []string
	// chained says the next block continues this one ("During handling of
	// the above exception ...").
	chained bool
}

const tracebackHeader = "Traceback (most recent call last):"

var frameRe = lazyre.New(`^\s+File "([^"]*)", line (\d+), in (.*)$`)

// excRe is an exception line: "psycopg2.OperationalError: text", "KeyError",
// "OSError: [Errno 98] Address already in use". excParts reads it by hand:
// every line of a traceback is tried.
var excRe = lazyre.New(`^([A-Za-z_][\w.]*)(?::(?: (.*))?)?$`)

// excParts is excRe's match: the exception's type and message.
func excParts(s string) (typ, msg string, ok bool) {
	if s == "" || !(isWordByte(s[0]) && (s[0] < '0' || s[0] > '9')) {
		return "", "", false
	}
	i := 1
	for i < len(s) && (isWordByte(s[i]) || s[i] == '.') {
		i++
	}
	typ, rest := s[:i], s[i:]
	switch {
	case rest == "" || rest == ":":
		return typ, "", true
	case len(rest) >= 2 && rest[0] == ':' && rest[1] == ' ' && strings.IndexByte(rest, '\n') < 0:
		return typ, rest[2:], true
	}
	return "", "", false
}

// isWordByte is regexp's \w: ASCII letters, digits and '_'.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// isFrame says s is a frame line; one cut inside its file name (systemctl
// status cuts lines at the terminal's width) still counts.
func isFrame(s string) bool {
	t := strings.TrimLeft(s, " \t")
	if !strings.HasPrefix(t, `File "`) {
		return false
	}
	return frameRe.MatchString(s) || strings.Count(t, `"`) == 1
}

func isChainMarker(s string) bool {
	s = strings.TrimSpace(s)
	return s == "During handling of the above exception, another exception occurred:" ||
		s == "The above exception was the direct cause of the following exception:"
}

// tracebacks finds every traceback in es, including one whose header line
// was lost (it starts at its first frame).
func tracebacks(es []entry) []block {
	var out []block
	for i := 0; i < len(es); {
		t := es[i].text
		if es[i].record || (strings.TrimSpace(t) != tracebackHeader && !isFrame(t)) {
			i++
			continue
		}
		b := block{start: i}
		if strings.TrimSpace(t) == tracebackHeader {
			i++
		}
		// Frames, their source lines, carets and "[Previous line repeated
		// N more times]" are all indented; the exception line is not. The
		// journal orders lines of several sources by time, so systemd's
		// "Started odoo.service." can land between a frame and its source
		// line: a line that is no exception, followed by an indented one,
		// is passed over.
		for i < len(es) && !es[i].record {
			t := es[i].text
			if isIndented(t) {
				if m := frameRe.FindStringSubmatch(t); m != nil {
					b.frames = append(b.frames, m[1]+":"+m[2]+" in "+m[3])
				}
				i++
				continue
			}
			if !looksLikeException(t) && i+1 < len(es) && !es[i+1].record && isIndented(es[i+1].text) {
				i++
				continue
			}
			break
		}
		// Likewise before the exception line: the first of the next few
		// that looks like one.
		for k := i; k < len(es) && k < i+4 && !es[k].record && !isIndented(es[k].text) && strings.TrimSpace(es[k].text) != tracebackHeader; k++ {
			if looksLikeException(es[k].text) {
				i = k
				break
			}
		}
		if i < len(es) && !es[i].record && strings.TrimSpace(es[i].text) != tracebackHeader {
			line := strings.TrimSpace(es[i].text)
			if typ, msg, ok := excParts(line); ok {
				b.exc.Type, b.exc.Message = typ, msg
			} else if j := strings.Index(line, ": "); j > 0 && j < 200 {
				b.exc.Type, b.exc.Message = line[:j], line[j+2:]
			} else if line != "" {
				b.exc.Type = report.Truncate(line, 200)
			}
			i++
			// The message may go on: psycopg2's "\tIs the server running on
			// host ...", a ParseError's context.
			for n := 0; i < len(es) && n < maxContinuation; n++ {
				t := es[i].text
				if es[i].record || strings.TrimSpace(t) == "" || strings.TrimSpace(t) == tracebackHeader || isChainMarker(t) || isFrame(t) {
					break
				}
				i++
			}
		}
		if i == b.start {
			i++ // always move on, whatever the lines hold
		}
		b.end = i
		// A chain marker, between blank lines, ties this block to the next.
		j := i
		for j < len(es) && strings.TrimSpace(es[j].text) == "" && !es[j].record {
			j++
		}
		if j < len(es) && !es[j].record && isChainMarker(es[j].text) {
			b.chained = true
			i = j + 1
		}
		out = append(out, b)
	}
	return out
}

// looksLikeException says whether s reads as Python's last traceback line,
// "psycopg2.OperationalError: ..." or "KeyError", and not as systemd's
// "odoo.service: Main process exited, ...".
func looksLikeException(s string) bool {
	typ, _, ok := excParts(strings.TrimSpace(s))
	if !ok {
		return false
	}
	for _, u := range []string{".service", ".socket", ".timer", ".scope", ".slice", ".mount", ".target"} {
		if strings.HasSuffix(typ, u) {
			return false
		}
	}
	return true
}

func isIndented(s string) bool {
	return s != "" && (s[0] == ' ' || s[0] == '\t')
}

// chain is one exception as Python printed it: one block, or several tied
// by chain markers; the last block is the exception that was raised.
type chain struct {
	blocks []block
	// record is the index of the log record that carried the traceback, or
	// -1 when Python printed it itself (an uncaught exception).
	record int
}

func (c chain) start() int { return c.blocks[0].start }
func (c chain) end() int   { return c.blocks[len(c.blocks)-1].end }

func chains(es []entry, bs []block) []chain {
	var out []chain
	for k := 0; k < len(bs); {
		c := chain{record: -1}
		for {
			c.blocks = append(c.blocks, bs[k])
			k++
			if !bs[k-1].chained || k == len(bs) {
				break
			}
		}
		// Odoo logs a traceback with its record at ERROR or CRITICAL
		// (_logger.exception), now and then at WARNING; a traceback after an
		// INFO line is Python's own, printed for an uncaught exception.
		if s := c.start(); s > 0 && es[s-1].record {
			switch es[s-1].level {
			case levelError, levelCritical, levelWarning, levelWarn:
				c.record = s - 1
			}
		}
		out = append(out, c)
	}
	return out
}

// requestLoggers log tracebacks of one web request or one cron job: the
// server went on serving after them.
var requestLoggers = []string{"odoo.http", "werkzeug", "odoo.addons.base.models.ir_http", "odoo.service.wsgi_server", "odoo.addons.base.models.ir_cron", "odoo.addons.base.ir.ir_cron", "odoo.addons.web.controllers"}

var requestPhrases = []string{"request handling", "during request", "Error on request", "rendering", "Call from cron", "Exception in cron", "cron job"}

// survived says the server went on after the traceback: it was logged for a
// web request or a cron job, or requests were served after it (lastAccess
// is the last access line's index).
func survived(es []entry, c chain, lastAccess int) bool {
	if c.record >= 0 {
		r := es[c.record]
		for _, l := range requestLoggers {
			if r.logger == l || strings.HasPrefix(r.logger, l+".") {
				return true
			}
		}
		for _, p := range requestPhrases {
			if strings.Contains(r.text, p) {
				return true
			}
		}
	}
	for _, b := range c.blocks {
		for _, f := range b.frames {
			if strings.Contains(f, "werkzeug/serving.py") && strings.HasSuffix(f, " in run_wsgi") {
				return true
			}
		}
	}
	// Requests served after it: werkzeug's access lines.
	return lastAccess >= c.end()
}

// lastAccess is the index of the run's last werkzeug access line, -1 when
// there is none.
func lastAccess(es []entry) int {
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].record && es[i].logger == "werkzeug" && es[i].level == levelInfo && strings.Contains(es[i].text, `HTTP/1.`) {
			return i
		}
	}
	return -1
}

// exception builds the report's exception from a chain: the raised
// exception, the innermost frame, and the chain's text (its end kept).
func exception(es []entry, c chain) *report.Exception {
	last := c.blocks[len(c.blocks)-1]
	x := last.exc
	for k := len(c.blocks) - 1; k >= 0 && x.Frame == ""; k-- {
		if f := c.blocks[k].frames; len(f) > 0 {
			x.Frame = f[len(f)-1]
		}
	}
	x.Message = report.Truncate(strings.TrimSpace(x.Message), 1024)
	var b strings.Builder
	for i := c.start(); i < c.end(); i++ {
		if b.Len() > 4*maxTraceback {
			break
		}
		b.WriteString(es[i].text)
		b.WriteByte('\n')
	}
	t := strings.TrimRight(b.String(), "\n")
	if len(t) > maxTraceback {
		t = report.CutMark + t[len(t)-maxTraceback+len(report.CutMark):]
	}
	x.Traceback = t
	return &x
}
