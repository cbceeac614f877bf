package degraded

import (
	"strconv"
	"strings"
	"time"
)

// record is the prefix Odoo puts before every log record:
// "2024-05-01 10:31:02,123 380 WARNING prod odoo.service.server: msg"
// (odoo/netsvc.py, "%(asctime)s %(pid)s %(levelname)s %(dbname)s
// %(name)s: %(message)s"). Lines without it are the continuation of the
// record before: a traceback, a stack dump.
type record struct {
	time   time.Time
	pid    int
	level  string
	db     string
	logger string
	msg    string
}

// parseRecord reads Odoo's prefix; ok is false for a continuation line or
// anything else. It allocates nothing: the strings point into line.
func parseRecord(line string) (r record, ok bool) {
	// "2006-01-02 15:04:05,000 " is 24 bytes.
	if len(line) < 32 || line[4] != '-' || line[7] != '-' || line[10] != ' ' ||
		line[13] != ':' || line[16] != ':' || line[19] != ',' || line[23] != ' ' {
		return r, false
	}
	t, ok := stamp(line[:23])
	if !ok {
		return r, false
	}
	rest := line[24:]
	var f [4]string
	for i := range f {
		j := strings.IndexByte(rest, ' ')
		if j <= 0 {
			if i == 3 && strings.HasSuffix(rest, ":") {
				// "... odoo.tools.misc:" with an empty message, as a
				// stack dump's first line is once the journal trimmed it.
				f[3], rest = rest, ""
				break
			}
			return r, false
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 || !strings.HasSuffix(f[3], ":") {
		return r, false
	}
	switch f[1] {
	case "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "DEBUG_RPC", "DEBUG_RPC_ANSWER", "DEBUG_SQL", "TEST":
	default:
		return r, false
	}
	return record{time: t, pid: pid, level: f[1], db: f[2], logger: f[3][:len(f[3])-1], msg: rest}, true
}

// stamp parses "2006-01-02 15:04:05,000" without the cost of time.Parse.
// Odoo logs in UTC (odoo/__init__.py sets TZ=UTC).
func stamp(s string) (time.Time, bool) {
	n := func(a, b int) int {
		v := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, se, ms := n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19), n(20, 23)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60 || ms < 0 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, se, ms*int(time.Millisecond), time.UTC), true
}

// Request is the request an event hit, as far as Odoo's lines name it.
type Request struct {
	Method string // "POST"
	Path   string // "/web/dataset/call_kw/sale.order/action_confirm", without the query
	Status string // "500", when werkzeug logged the answer
	DB     string // "prod"
	UID    string // "7", from a stack dump's "(uid:7)"
}

// String reads "POST /web/dataset/call_kw/sale.order/action_confirm, db
// prod, uid 7", leaving out what is not known.
func (r Request) String() string {
	var parts []string
	if r.Path != "" {
		p := r.Path
		if r.Method != "" {
			p = r.Method + " " + p
		}
		parts = append(parts, p)
	}
	if r.DB != "" {
		parts = append(parts, "db "+r.DB)
	}
	if r.UID != "" {
		parts = append(parts, "uid "+r.UID)
	}
	return strings.Join(parts, ", ")
}

func (r Request) known() bool { return r.Path != "" || r.UID != "" }

// maxPath bounds a request path kept from a line.
const maxPath = 200

// werkzeugRequest reads the access line werkzeug logs for every answered
// request: `127.0.0.1 - - [01/May/2024 10:31:02] "POST /web/dataset/call_kw/sale.order/action_confirm HTTP/1.1" 200 - 12 0.010 0.050`
// (the three numbers after the status are Odoo 16+'s query count, query
// time and remaining time).
func werkzeugRequest(msg, db string) (Request, bool) {
	i := strings.Index(msg, "] \"")
	if i < 0 {
		return Request{}, false
	}
	s := msg[i+3:]
	end := strings.IndexByte(s, '"')
	if end < 0 {
		return Request{}, false
	}
	reqLine, after := s[:end], s[end+1:]
	method, rest, ok := strings.Cut(reqLine, " ")
	if !ok || method == "" {
		return Request{}, false
	}
	path := rest
	if j := strings.LastIndexByte(rest, ' '); j >= 0 && strings.HasPrefix(rest[j+1:], "HTTP/") {
		path = rest[:j]
	}
	path = cleanPath(path)
	status := ""
	after = strings.TrimLeft(after, " ")
	if len(after) >= 3 && isDigits(after[:3]) {
		status = after[:3]
	}
	return Request{Method: method, Path: path, Status: status, DB: dbName(db)}, true
}

// cleanPath drops the query (it may hold tokens) and bounds the length.
func cleanPath(p string) string {
	if j := strings.IndexAny(p, "?#"); j >= 0 {
		p = p[:j]
	}
	if len(p) > maxPath {
		p = p[:maxPath]
	}
	return p
}

// dbName is Odoo's db field, "?" when the record belongs to no database.
func dbName(db string) string {
	if db == "?" || db == "-" {
		return ""
	}
	return db
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parenInt reads the integer in "(380)" at the start of s and returns
// what follows it.
func parenInt(s string) (int, string, bool) {
	if len(s) < 3 || s[0] != '(' {
		return 0, "", false
	}
	j := strings.IndexByte(s, ')')
	if j < 2 {
		return 0, "", false
	}
	v, err := strconv.Atoi(s[1:j])
	if err != nil {
		return 0, "", false
	}
	return v, s[j+1:], true
}

// dumpThread reads the heading a stack dump gives each thread
// (odoo/tools/misc.py, dumpstacks): "# Thread: <Thread(odoo.service.http.request.140127, started daemon 140127)>
// (db:prod) (uid:2) (url:http://erp1/web/dataset/call_kw/account.move/action_post) (qc:80552 qt:120.4 pt:30.1)";
// "n/a" where the thread has none. Older Odoo prints fewer fields.
func dumpThread(line string) (thread string, r Request, ok bool) {
	s, ok := strings.CutPrefix(strings.TrimLeft(line, " "), "# Thread: ")
	if !ok {
		return "", r, false
	}
	thread = s
	if j := strings.Index(s, "> ("); j >= 0 {
		thread = s[:j+1]
	}
	field := func(name string) string {
		k := strings.Index(s, "("+name+":")
		if k < 0 {
			return ""
		}
		v := s[k+len(name)+2:]
		e := strings.IndexByte(v, ')')
		if e < 0 {
			return ""
		}
		v = v[:e]
		if v == "n/a" || v == "None" || v == "False" {
			return ""
		}
		return v
	}
	r.DB = field("db")
	r.UID = field("uid")
	if u := field("url"); u != "" {
		// The url is absolute: keep its path.
		if k := strings.Index(u, "://"); k >= 0 {
			u = u[k+3:]
			if p := strings.IndexByte(u, '/'); p >= 0 {
				u = u[p:]
			} else {
				u = "/"
			}
		}
		r.Path = cleanPath(u)
	}
	return thread, r, true
}

// threadName reads the thread in "Thread <Thread(odoo.service.http.request.140127, started daemon 140127)> virtual real time limit ...".
func threadName(msg string) string {
	s, ok := strings.CutPrefix(msg, "Thread ")
	if !ok {
		return ""
	}
	if j := strings.Index(s, "> "); j >= 0 {
		return s[:j+1]
	}
	return ""
}

// oneLine bounds an example line.
func oneLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(s, " \r")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
