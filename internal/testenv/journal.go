package testenv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// JournalRemote writes journal files from the journal export format
// (https://systemd.io/JOURNAL_EXPORT_FORMATS/), as journald would have
// written them. See systemd-journal-remote.service(8).
const JournalRemote = "/lib/systemd/systemd-journal-remote"

// RequireJournalRemote fails the test when the tool that makes journal files
// is missing: a journal test that does not read a real journal proves nothing.
func RequireJournalRemote(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(JournalRemote); err != nil {
		tb.Fatalf("%s not found (%v): apt-get install systemd-journal-remote (scripts/deps does)", JournalRemote, err)
	}
}

// ImportJournal makes a real journal file at path from what write writes in
// export format (journal-remote may rotate a large output into more files
// next to it).
func ImportJournal(tb testing.TB, path string, write func(io.Writer) error) {
	tb.Helper()
	RequireJournalRemote(tb)
	cmd := exec.Command(JournalRemote, "-o", path, "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", JournalRemote, err)
	}
	werr := write(in)
	in.Close()
	if err := cmd.Wait(); err != nil {
		tb.Fatalf("%s: %v: %s", JournalRemote, err, stderr.String())
	}
	if werr != nil {
		tb.Fatalf("write export: %v", werr)
	}
}

// ExportField writes one field in export format. A value that is not
// single-line UTF-8 takes the binary form, as journalctl -o export writes it.
func ExportField(w *bufio.Writer, key, value string) {
	if strings.ContainsRune(value, '\n') || !utf8.ValidString(value) {
		w.WriteString(key)
		w.WriteByte('\n')
		binary.Write(w, binary.LittleEndian, uint64(len(value)))
		w.WriteString(value)
		w.WriteByte('\n')
		return
	}
	w.WriteString(key)
	w.WriteByte('=')
	w.WriteString(value)
	w.WriteByte('\n')
}

// Entry is one journal entry: its fields, as in the export format.
type Entry map[string]string

// JournalStart is the time of the first entry WriteJournal writes; each
// further entry is one second later.
var JournalStart = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// WriteJournal makes a real journal file of entries, one second apart from
// JournalStart, and returns its path. An entry that sets
// __REALTIME_TIMESTAMP (microseconds) keeps its own time.
func WriteJournal(tb testing.TB, entries []Entry) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "system.journal")
	ImportJournal(tb, out, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for i, e := range entries {
			realtime := fmt.Sprint(JournalStart.Add(time.Duration(i) * time.Second).UnixMicro())
			if own, ok := e["__REALTIME_TIMESTAMP"]; ok {
				realtime = own
			}
			fmt.Fprintf(bw, "__CURSOR=s=0;i=%d\n__REALTIME_TIMESTAMP=%s\n__MONOTONIC_TIMESTAMP=%d\n"+
				"_BOOT_ID=0b0e1f2a3b4c5d6e7f8091a2b3c4d5e6\n_MACHINE_ID=1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f\n_HOSTNAME=erp1\n",
				i+1, realtime, int64(i+1)*1_000_000)
			if _, ok := e["PRIORITY"]; !ok {
				bw.WriteString("PRIORITY=6\n")
			}
			keys := make([]string, 0, len(e))
			for k := range e {
				if k != "__REALTIME_TIMESTAMP" {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				ExportField(bw, k, e[k])
			}
			bw.WriteByte('\n')
		}
		return bw.Flush()
	})
	return out
}

// ImportExport turns a file in the journal export format (journalctl -o
// export, as recorded on a real systemd) into a journal file.
func ImportExport(tb testing.TB, exportFile string) string {
	tb.Helper()
	in, err := os.Open(exportFile)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(tb.TempDir(), "recorded.journal")
	ImportJournal(tb, out, func(w io.Writer) error { _, err := io.Copy(w, in); return err })
	return out
}
