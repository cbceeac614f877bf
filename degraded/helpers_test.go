package degraded

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	// docker compose's service column: "odoo_1           | ", "web-1  | ".
	composeCol = regexp.MustCompile(`^[A-Za-z0-9][\w.-]{0,63}\s+\| ?`)
	// journalctl's short format: "Feb 13 15:14:15  odoo-start[332844]: ".
	journalctlCol = regexp.MustCompile(`^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d [^ ]* ?[\w.@()-]+\[\d+\]: `)
)

// paste reads a public thread's lines (testdata/public), without what the
// way to the thread put before Odoo's line (SOURCES.md says what).
// Their times are Odoo's own.
func paste(t *testing.T, name string) []Line {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "public", name))
	if err != nil {
		t.Fatal(err)
	}
	kernel := strings.Contains(name, "oom")
	var out []Line
	for _, s := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		s = composeCol.ReplaceAllString(s, "")
		s = journalctlCol.ReplaceAllString(s, "")
		out = append(out, Line{Message: s, Kernel: kernel})
	}
	return out
}

// journal reads a unit's journal as `journalctl -o json` wrote it
// (testdata/odoo18): each entry's time, MESSAGE and transport, as the
// watcher gets them.
func journal(t testing.TB, name string) []Line {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "odoo18", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var e map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ts, transport string
		_ = json.Unmarshal(e["__REALTIME_TIMESTAMP"], &ts)
		_ = json.Unmarshal(e["_TRANSPORT"], &transport)
		us, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			t.Fatalf("%s: __REALTIME_TIMESTAMP %q", name, ts)
		}
		// journalctl writes MESSAGE as a string, or as an array of bytes
		// when it is not valid UTF-8.
		var msg string
		if err := json.Unmarshal(e["MESSAGE"], &msg); err != nil {
			var bs []byte
			var arr []int
			if err := json.Unmarshal(e["MESSAGE"], &arr); err != nil {
				t.Fatalf("%s: MESSAGE %s", name, e["MESSAGE"])
			}
			for _, c := range arr {
				bs = append(bs, byte(c))
			}
			msg = string(bs)
		}
		out = append(out, Line{Time: time.UnixMicro(us).UTC(), Message: msg, Kernel: transport == "kernel"})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// feed gives the Detector every line and returns every notice.
func feed(d *Detector, lines []Line) []Notice {
	var out []Notice
	for _, l := range lines {
		out = append(out, d.Line(l)...)
	}
	return out
}

// settle lets two windows pass after the last line: what waited is
// counted, and the spell is resolved.
func settle(d *Detector) []Notice {
	end := d.now.Add(2*d.opt.Window + dumpWait)
	var out []Notice
	for t := d.now; !t.After(end); t = t.Add(time.Minute) {
		out = append(out, d.Tick(t)...)
	}
	return out
}

func states(ns []Notice) string {
	var s []string
	for _, n := range ns {
		s = append(s, string(n.State))
	}
	return strings.Join(s, ",")
}

func count(n Notice, k Kind) int {
	for _, c := range n.Counts {
		if c.Kind == k {
			return c.N
		}
	}
	return 0
}
