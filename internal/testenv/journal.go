package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// JournalRemote writes journal files from the journal export format, as
// journald would have written them.
const JournalRemote = "/lib/systemd/systemd-journal-remote"

// Entry is one journal entry: its fields, as in the export format.
type Entry map[string]string

// JournalStart is the time of the first entry WriteJournal writes; each
// further entry is one second later.
var JournalStart = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// WriteJournal makes a real journal file of entries, one second apart from
// JournalStart, with systemd-journal-remote, and returns its path. An entry
// that sets __REALTIME_TIMESTAMP (microseconds) keeps its own time.
func WriteJournal(t testing.TB, entries []Entry) string {
	t.Helper()
	if _, err := os.Stat(JournalRemote); err != nil {
		t.Fatalf("%s is missing: apt-get install systemd-journal-remote (scripts/deps does)", JournalRemote)
	}
	var b bytes.Buffer
	for i, e := range entries {
		realtime := fmt.Sprint(JournalStart.Add(time.Duration(i) * time.Second).UnixMicro())
		if own, ok := e["__REALTIME_TIMESTAMP"]; ok {
			realtime = own
		}
		fmt.Fprintf(&b, "__CURSOR=s=0;i=%d\n__REALTIME_TIMESTAMP=%s\n__MONOTONIC_TIMESTAMP=%d\n"+
			"_BOOT_ID=0b0e1f2a3b4c5d6e7f8091a2b3c4d5e6\n_MACHINE_ID=1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f\n_HOSTNAME=erp1\n",
			i+1, realtime, int64(i+1)*1_000_000)
		if _, ok := e["PRIORITY"]; !ok {
			b.WriteString("PRIORITY=6\n")
		}
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "__REALTIME_TIMESTAMP" {
				continue
			}
			fmt.Fprintf(&b, "%s=%s\n", k, e[k])
		}
		b.WriteString("\n")
	}
	out := filepath.Join(t.TempDir(), "system.journal")
	cmd := exec.Command(JournalRemote, "-o", out, "-")
	cmd.Stdin = &b
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, msg)
	}
	return out
}

// ImportExport turns a file in the journal export format (journalctl -o
// export, as recorded on a real systemd) into a journal file.
func ImportExport(t testing.TB, exportFile string) string {
	t.Helper()
	in, err := os.Open(exportFile)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), "recorded.journal")
	cmd := exec.Command(JournalRemote, "-o", out, "-")
	cmd.Stdin = in
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote %s: %v\n%s", exportFile, err, msg)
	}
	return out
}
