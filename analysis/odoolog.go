package analysis

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

// DefaultLogBytes bounds how much of Odoo's log file ReadLog reads when the
// caller gives no bound.
const DefaultLogBytes = 1 << 20

const (
	// maxLogLine bounds one physical line of the log file.
	maxLogLine = 64 << 10
	// maxRecord bounds one record with its traceback attached.
	maxRecord = 64 << 10
	// maxConfBytes bounds how much of odoo.conf is read.
	maxConfBytes = 1 << 20
)

// LogFileFromExecStart finds Odoo's log file and config file in the unit's
// command line: --logfile FILE or --logfile=FILE, and -c/--config FILE. A
// command run through "sh -c '...'" is looked into.
func LogFileFromExecStart(argv []string) (logfile, conf string) {
	if len(argv) >= 3 && isShell(argv[0]) {
		for i := 1; i+1 < len(argv); i++ {
			if argv[i] == "-c" {
				return LogFileFromExecStart(strings.Fields(strings.NewReplacer(`"`, "", `'`, "").Replace(argv[i+1])))
			}
		}
	}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		next := func() string {
			if i+1 < len(argv) {
				i++
				return argv[i]
			}
			return ""
		}
		switch {
		case a == "--logfile":
			logfile = next()
		case strings.HasPrefix(a, "--logfile="):
			logfile = strings.TrimPrefix(a, "--logfile=")
		case a == "-c" || a == "--config":
			conf = next()
		case strings.HasPrefix(a, "--config="):
			conf = strings.TrimPrefix(a, "--config=")
		case strings.HasPrefix(a, "-c") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			conf = a[2:]
		}
	}
	return logfile, conf
}

func isShell(p string) bool {
	switch filepath.Base(p) {
	case "sh", "bash", "dash", "zsh":
		return true
	}
	return false
}

// OdooConf is what odoo-notify reads from odoo.conf: where Odoo logs and
// its limits. Passwords (admin_passwd, db_password) are never kept.
type OdooConf struct {
	LogFile string
	// Syslog says Odoo logs to syslog (and so to the journal).
	Syslog                           bool
	Workers                          int
	LimitMemoryHard, LimitMemorySoft uint64
	LimitTimeReal, LimitTimeCPU      int
	HTTPPort                         int
}

// Settings returns the limits for Analyze; MemoryMax comes from systemd.
func (c OdooConf) Settings() Settings {
	return Settings{
		Workers:         c.Workers,
		LimitMemoryHard: c.LimitMemoryHard,
		LimitMemorySoft: c.LimitMemorySoft,
		LimitTimeReal:   c.LimitTimeReal,
		LimitTimeCPU:    c.LimitTimeCPU,
	}
}

// ReadOdooConf reads the [options] section of an odoo.conf.
func ReadOdooConf(path string) (OdooConf, error) {
	var c OdooConf
	f, err := os.Open(path)
	if err != nil {
		return c, fmt.Errorf("analysis: read odoo config: %w%s", err, permissionHint(err))
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxConfBytes))
	sc.Buffer(make([]byte, 0, 4096), maxConfBytes)
	section := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		if section != "options" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "False" || v == "None" || v == "" {
			continue
		}
		switch k {
		case "logfile":
			c.LogFile = v
		case "syslog":
			c.Syslog = v == "True" || v == "true" || v == "1"
		case "workers":
			c.Workers, _ = strconv.Atoi(v)
		case "limit_memory_hard":
			c.LimitMemoryHard, _ = strconv.ParseUint(v, 10, 64)
		case "limit_memory_soft":
			c.LimitMemorySoft, _ = strconv.ParseUint(v, 10, 64)
		case "limit_time_real":
			c.LimitTimeReal = atoiFloat(v)
		case "limit_time_cpu":
			c.LimitTimeCPU = atoiFloat(v)
		case "http_port", "xmlrpc_port":
			c.HTTPPort, _ = strconv.Atoi(v)
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("analysis: read odoo config %s: %w", path, err)
	}
	return c, nil
}

func atoiFloat(v string) int {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0
	}
	return int(f)
}

func permissionHint(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return ": let odoo-notify's user read it (odoo-notify enable gives the handler the unit's group; see its --group)"
	case errors.Is(err, fs.ErrNotExist):
		return ": check --odoo-log, log_file and odoo_conf for the unit in odoo-notify's config, or the unit's --logfile and -c"
	}
	return ""
}

// odooTime parses the time at the start of an Odoo log line,
// "2024-05-01 10:00:00,123 ", and returns the rest. Odoo runs with TZ=UTC
// (odoo/__init__.py), so its times are UTC.
func odooTime(line []byte) (time.Time, []byte, bool) {
	if len(line) < 24 || line[4] != '-' || line[10] != ' ' || line[13] != ':' || line[19] != ',' {
		return time.Time{}, nil, false
	}
	t, err := time.Parse("2006-01-02 15:04:05,000", string(line[:23]))
	if err != nil {
		return time.Time{}, nil, false
	}
	rest := line[23:]
	if len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	return t, rest, true
}

// ReadLog reads the failed run's part of Odoo's log file: the records
// logged from since to until, the last maxBytes of them; none when Odoo
// logged nothing there in the window. With since zero (the run's window
// unknown), or a file without Odoo's times, it reads the last maxBytes.
// Continuation lines (tracebacks) are attached to their record, so one
// Line is one record. The file's time order lets it find the window
// without reading the whole file.
func ReadLog(path string, since, until time.Time, maxBytes int64) ([]report.Line, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultLogBytes
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("analysis: read odoo log: %w%s", err, permissionHint(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("analysis: read odoo log %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("analysis: read odoo log %s: not a regular file: give the path of Odoo's --logfile", path)
	}
	size := st.Size()
	start, end := size-maxBytes, size
	aligned := false
	if !since.IsZero() {
		s, ok, err := recordOffset(f, size, since)
		if err != nil {
			return nil, fmt.Errorf("analysis: read odoo log %s: %w", path, err)
		}
		if ok {
			start, aligned = s, true
			if !until.IsZero() {
				// The first record after until ends the window.
				e, ok, err := recordOffset(f, size, until.Add(time.Millisecond))
				if err != nil {
					return nil, fmt.Errorf("analysis: read odoo log %s: %w", path, err)
				}
				if ok {
					end = e
				}
			}
			if end-start > maxBytes {
				start, aligned = end-maxBytes, false
			}
		} else if _, _, dated, err := nextRecord(f, size, 0); err == nil && dated {
			// Odoo logged nothing here since the run started: older
			// records belong to other runs and would mislead.
			return nil, nil
		}
	}
	if start <= 0 {
		start, aligned = 0, true
	}
	if end < start {
		end = start
	}
	lines, err := parseLog(io.NewSectionReader(f, start, end-start), !aligned)
	if err != nil {
		return nil, fmt.Errorf("analysis: read odoo log %s: %w", path, err)
	}
	return lines, nil
}

// recordOffset finds the offset of the first record logged at or after t,
// by bisecting the file on the times of its records. ok is false when the
// file holds no record at or after t, or no Odoo times at all.
func recordOffset(f io.ReaderAt, size int64, t time.Time) (off int64, ok bool, err error) {
	lo, hi := int64(0), size
	for hi-lo > 64<<10 {
		mid := lo + (hi-lo)/2
		_, ts, found, err := nextRecord(f, size, mid)
		if err != nil {
			return 0, false, err
		}
		if !found || !ts.Before(t) {
			hi = mid
		} else {
			lo = mid
		}
	}
	// Walk forward from lo to the first record at or after t.
	for pos := lo; pos < size; {
		o, ts, found, err := nextRecord(f, size, pos)
		if err != nil || !found {
			return 0, false, err
		}
		if !ts.Before(t) {
			return o, true, nil
		}
		pos = o + 1
	}
	return 0, false, nil
}

// nextRecord finds the first record that starts at or after pos (at a line
// start), scanning at most a few MiB.
func nextRecord(f io.ReaderAt, size, pos int64) (off int64, t time.Time, found bool, err error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, pos, size-pos), 64<<10)
	off = pos
	atStart := pos == 0
	if !atStart {
		// pos may point inside a line: the line starting right at pos
		// counts only if the byte before is a newline.
		var b [1]byte
		if _, err := f.ReadAt(b[:], pos-1); err == nil && b[0] == '\n' {
			atStart = true
		}
	}
	const scanLimit = 8 << 20
	for off-pos < scanLimit {
		line, n, err := readLine(r)
		if n == 0 && err != nil {
			if err == io.EOF {
				return 0, time.Time{}, false, nil
			}
			return 0, time.Time{}, false, err
		}
		if atStart {
			if ts, _, ok := odooTime(line); ok {
				return off, ts, true, nil
			}
		}
		atStart = true
		off += int64(n)
	}
	return 0, time.Time{}, false, nil
}

// readLine reads one line without its newline, cut to maxLogLine; n is the
// bytes it spans in the file.
func readLine(r *bufio.Reader) (line []byte, n int, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		n += len(chunk)
		if len(line) < maxLogLine {
			room := maxLogLine - len(line)
			c := bytes.TrimSuffix(chunk, []byte{'\n'})
			if len(c) > room {
				c = c[:room]
			}
			line = append(line, c...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSuffix(line, []byte{'\r'}), n, err
	}
}

// parseLog turns log text into records. skipFirst drops a partial first
// line (the read started inside it).
func parseLog(rd io.Reader, skipFirst bool) ([]report.Line, error) {
	r := bufio.NewReaderSize(rd, 64<<10)
	var out []report.Line
	var cur *report.Line
	var buf []byte
	flush := func() {
		if cur != nil {
			cur.Message = string(compact(buf))
			out = append(out, *cur)
			cur = nil
		}
		buf = buf[:0]
	}
	first := true
	for {
		line, n, err := readLine(r)
		if n == 0 && err != nil {
			if err == io.EOF {
				break
			}
			return nil, err
		}
		if first && skipFirst {
			first = false
			continue
		}
		first = false
		if ts, rest, ok := odooTime(line); ok {
			flush()
			cur = &report.Line{Time: ts.UTC(), Priority: recordPriority(rest)}
			buf = append(buf, rest...)
			continue
		}
		if cur == nil {
			// Lines before the first record, or a file not in Odoo's
			// format: each line stands alone.
			out = append(out, report.Line{Priority: 6, Message: string(line)})
			continue
		}
		buf = append(append(buf, '\n'), line...)
		if len(buf) > 2*maxRecord {
			buf = compact(buf)
		}
	}
	flush()
	return out, nil
}

// compact bounds a record to maxRecord bytes: its first line (the log
// message) and the end of its traceback, which names the exception.
func compact(b []byte) []byte {
	if len(b) <= maxRecord {
		return b
	}
	head, _, _ := bytes.Cut(b, []byte{'\n'})
	if len(head) > maxRecord/4 {
		head = head[:maxRecord/4]
	}
	tail := b[len(b)-(maxRecord-len(head)-len(report.CutMark)-2):]
	if i := bytes.IndexByte(tail, '\n'); i >= 0 {
		tail = tail[i+1:]
	}
	out := make([]byte, 0, maxRecord)
	out = append(out, head...)
	out = append(out, '\n')
	out = append(out, report.CutMark...)
	out = append(out, '\n')
	return append(out, tail...)
}

// recordPriority reads the level of "1234 ERROR db odoo.x: msg".
func recordPriority(rest []byte) int {
	_, after, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return 6
	}
	level, _, _ := bytes.Cut(after, []byte{' '})
	return levelPriority(string(level))
}
