package watch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// maxFileTail bounds how much of Odoo's log file FileLogs reads: its end,
// where a dump just asked for is.
const maxFileTail = 4 << 20

// recordRE is the start of a record in Odoo's log file:
// "2024-05-02 10:31:02,412 380 INFO prod odoo.tools.misc: ...".
var recordRE = lazyre.New(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ (\d+) `)

// FileLogs reads Odoo's own log file (logfile = in odoo.conf), where the
// stack dump goes when Odoo does not log to the journal.
type FileLogs struct {
	Path string
	// Loc is the time zone Odoo writes its times in: the host's.
	Loc *time.Location
}

// Since returns the lines of the records logged at since or later (to the
// second, as Odoo writes them), each with the PID of its record. The run's
// invocation is not in the file, and is not needed: the time says it.
func (f FileLogs) Since(_ context.Context, _ string, since time.Time) ([]Line, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("watch: read Odoo's log file: %w", err)
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err == nil && fi.Size() > maxFileTail {
		if _, err := fh.Seek(fi.Size()-maxFileTail, io.SeekStart); err != nil {
			return nil, fmt.Errorf("watch: read Odoo's log file: %w", err)
		}
	}
	loc := f.Loc
	if loc == nil {
		loc = time.Local
	}
	from := since.Truncate(time.Second)
	var out []Line
	pid, keep := 0, false
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		b := sc.Bytes()
		if m := recordRE.FindSubmatch(b); m != nil {
			t, err := time.ParseInLocation("2006-01-02 15:04:05", string(m[1]), loc)
			keep = err == nil && !t.Before(from)
			pid, _ = strconv.Atoi(string(m[2]))
		}
		if keep {
			out = append(out, Line{PID: pid, Text: string(bytes.TrimRight(b, "\r"))})
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("watch: read Odoo's log file %s: %w", f.Path, err)
	}
	return out, nil
}
