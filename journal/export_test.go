package journal

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

const bootID = "5b1b6f3c9a1e4c0f8a2d7e6b4c3a2f10"

// kv is one field of an entry, in the order it is written.
type kv struct{ k, v string }

// rec is one journal entry to write.
type rec struct {
	at     time.Time
	fields []kv
}

// writeExport writes recs in journal export format.
func writeExport(w io.Writer, recs []rec) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	for _, r := range recs {
		// One boot, one monotonic clock, shared by every file of a test:
		// sd-journal orders entries of one boot across files by it.
		fmt.Fprintf(bw, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n",
			r.at.UnixMicro(), 1_000_000+r.at.Sub(t0).Microseconds(), bootID)
		for _, f := range r.fields {
			testenv.ExportField(bw, f.k, f.v)
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// makeJournal writes recs into a fresh journal file and returns its path.
func makeJournal(tb testing.TB, recs []rec) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "test.journal")
	testenv.ImportJournal(tb, path, func(w io.Writer) error { return writeExport(w, recs) })
	return path
}

// openRecs writes recs into a journal file and opens it.
func openRecs(t *testing.T, recs []rec) *Journal {
	t.Helper()
	j, err := OpenFiles([]string{makeJournal(t, recs)})
	if err != nil {
		t.Fatalf("OpenFiles: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// scene builds a realistic journal: service output, systemd's messages
// about runs, other units and the kernel, one clock for all.
type scene struct {
	now  time.Time
	recs []rec
}

var t0 = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

func newScene() *scene { return &scene{now: t0} }

// tick advances the clock and returns it.
func (s *scene) tick(d time.Duration) time.Time {
	s.now = s.now.Add(d)
	return s.now
}

func (s *scene) add(fields ...kv) time.Time {
	at := s.tick(10 * time.Millisecond)
	s.recs = append(s.recs, rec{at: at, fields: fields})
	return at
}

// out logs a line of the service's own output.
func (s *scene) out(unit, id, msg string) time.Time {
	return s.add(
		kv{"_TRANSPORT", "stdout"}, kv{"PRIORITY", "6"}, kv{"SYSLOG_IDENTIFIER", "odoo"},
		kv{"_PID", "4242"}, kv{"_SYSTEMD_UNIT", unit}, kv{"_SYSTEMD_INVOCATION_ID", id},
		kv{"MESSAGE", msg})
}

// sys logs a message of systemd (PID 1) about unit's run id.
func (s *scene) sys(unit, id, msgID, msg string, extra ...kv) time.Time {
	f := []kv{
		kv{"_TRANSPORT", "journal"}, kv{"PRIORITY", "6"}, kv{"SYSLOG_IDENTIFIER", "systemd"},
		kv{"_PID", "1"}, kv{"_SYSTEMD_UNIT", "init.scope"}, kv{"UNIT", unit}, kv{"MESSAGE", msg},
	}
	if id != "" {
		f = append(f, kv{"INVOCATION_ID", id})
	}
	if msgID != "" {
		f = append(f, kv{"MESSAGE_ID", msgID})
	}
	return s.add(append(f, extra...)...)
}

// kernel logs a kernel message.
func (s *scene) kernel(msg string) time.Time {
	return s.add(kv{"_TRANSPORT", "kernel"}, kv{"PRIORITY", "3"}, kv{"SYSLOG_IDENTIFIER", "kernel"}, kv{"MESSAGE", msg})
}

func (s *scene) started(unit, id string) time.Time {
	return s.sys(unit, id, msgUnitStarted, "Started "+unit+" - Odoo.")
}

// exited logs systemd's "Main process exited" with the number systemd
// writes in EXIT_STATUS (a signal number for killed and dumped).
func (s *scene) exited(unit, id, code string, status int) time.Time {
	text := strconv.Itoa(status)
	switch code {
	case "killed", "dumped":
		text += "/" + signalName(status)
	case "exited":
		if status == 1 {
			text += "/FAILURE"
		}
	}
	return s.sys(unit, id, msgProcessExit,
		fmt.Sprintf("%s: Main process exited, code=%s, status=%s", unit, code, text),
		kv{"EXIT_CODE", code}, kv{"EXIT_STATUS", strconv.Itoa(status)})
}

func (s *scene) failed(unit, id, result string) time.Time {
	return s.sys(unit, id, msgUnitFailed, fmt.Sprintf("%s: Failed with result '%s'.", unit, result),
		kv{"UNIT_RESULT", result})
}

func (s *scene) restart(unit, id string, n int) time.Time {
	return s.sys(unit, id, msgRestart,
		fmt.Sprintf("%s: Scheduled restart job, restart counter is at %d.", unit, n),
		kv{"N_RESTARTS", strconv.Itoa(n)})
}

// invocation returns a 32-hex-digit invocation id for run n.
func invocation(n int) string { return fmt.Sprintf("%032x", 0xabc0000+n) }

// messages lists the messages of entries, for comparing.
func messages(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Message
	}
	return out
}
