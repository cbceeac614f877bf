package journal

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/facts"
	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// The testdata/*-252.export files are journalctl -o export of real runs on
// Debian 12 (systemd 252) booted with systemd-nspawn:
//
//   - crashloop-252.export: crashy.service (Restart=on-failure,
//     RestartSec=500ms, WatchdogSec=2, StartLimitBurst=5) crashing five
//     times: exit 1, SIGKILL, SIGSEGV with a core dump, watchdog SIGABRT,
//     exit 3; then the start limit, and a refused `systemctl start` 30 s
//     later.
//   - start-limit-252.export: flappy.service (Restart=always) exiting 0
//     until the start limit.
//
// The MONITOR_* variables systemd gave the OnFailure= handler in those runs
// are recorded below: every source must tell the same story.

// importExport turns a recorded export into a journal file and opens it.
func importExport(t *testing.T, name string) *Journal {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	path := filepath.Join(t.TempDir(), "real.journal")
	testenv.ImportJournal(t, path, func(w io.Writer) error { _, err := io.Copy(w, f); return err })
	j, err := OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func TestSystemd252(t *testing.T) {
	crashIDs := []string{
		"27f175fada9e4d05a94e0bcd70114b3d", "16f7dc313b4f4b92bf4099ae1c3000c7", "346b97524f924bdcbb9888e981d5edc6",
		"fdb15950a3594001a58d3e196403b267", "995a353f97f24e5dbe955702f7a7761a",
	}
	tests := []struct {
		name        string
		export      string
		unit        string
		monitor     map[string]string // what the OnFailure= handler was given
		want        State
		wantCrashes []Crash // times left out
		wantTail    []string
	}{
		{
			name: "crash loop stopped by the start limit", export: "crashloop-252.export", unit: "crashy.service",
			monitor: map[string]string{
				"MONITOR_UNIT": "crashy.service", "MONITOR_SERVICE_RESULT": "exit-code", "MONITOR_EXIT_CODE": "exited",
				"MONITOR_EXIT_STATUS": "3", "MONITOR_INVOCATION_ID": crashIDs[4],
			},
			want: State{Unit: "crashy.service", InvocationID: crashIDs[4], Result: "exit-code", ExitCode: "exited",
				ExitStatus: "3", NRestarts: 5, StartLimitHit: true, Source: SourceJournal},
			wantCrashes: []Crash{
				{InvocationID: crashIDs[0], Result: "exit-code", ExitCode: "exited", ExitStatus: "1"},
				{InvocationID: crashIDs[1], Result: "signal", ExitCode: "killed", ExitStatus: "KILL"},
				{InvocationID: crashIDs[2], Result: "core-dump", ExitCode: "dumped", ExitStatus: "SEGV"},
				{InvocationID: crashIDs[3], Result: "watchdog", ExitCode: "killed", ExitStatus: "ABRT"},
				{InvocationID: crashIDs[4], Result: "exit-code", ExitCode: "exited", ExitStatus: "3"},
			},
			wantTail: []string{
				"crashy run 5 starting", "exiting 3",
				"crashy.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED",
				"crashy.service: Failed with result 'exit-code'.",
				"crashy.service: Scheduled restart job, restart counter is at 5.",
				"Stopped crashy.service - Crashy.",
				"crashy.service: Start request repeated too quickly.",
				"crashy.service: Failed with result 'exit-code'.",
				"Failed to start crashy.service - Crashy.",
				"crashy.service: Triggering OnFailure= dependencies.",
				"crashy.service: Start request repeated too quickly.",
				"crashy.service: Failed with result 'exit-code'.",
				"Failed to start crashy.service - Crashy.",
			},
		},
		{
			name: "clean exits until the start limit", export: "start-limit-252.export", unit: "flappy.service",
			monitor: map[string]string{
				"MONITOR_UNIT": "flappy.service", "MONITOR_SERVICE_RESULT": "start-limit-hit", "MONITOR_EXIT_CODE": "exited",
				"MONITOR_EXIT_STATUS": "0", "MONITOR_INVOCATION_ID": "a9a55a639ff947f2ad2d61da04340428",
			},
			want: State{Unit: "flappy.service", InvocationID: "a9a55a639ff947f2ad2d61da04340428", Result: "start-limit-hit",
				ExitCode: "exited", ExitStatus: "0", NRestarts: 5, StartLimitHit: true, Source: SourceJournal},
			wantTail: []string{
				// journald received the output before systemd's line.
				"flappy up", "Started flappy.service - Flappy.", "flappy.service: Deactivated successfully.",
				"flappy.service: Scheduled restart job, restart counter is at 5.",
				"Stopped flappy.service - Flappy.",
				"flappy.service: Start request repeated too quickly.",
				"flappy.service: Failed with result 'start-limit-hit'.",
				"Failed to start flappy.service - Flappy.",
				"flappy.service: Triggering OnFailure= dependencies.",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := importExport(t, tt.export)
			events, err := j.Events(tt.unit, time.Time{}, 1000)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := StateFromEvents(tt.unit, events)
			if !ok {
				t.Fatalf("no failure found in %q", messages(events))
			}
			// The run's start and exit are the times of systemd's lines
			// about them.
			at := func(msgID string) time.Time {
				for _, e := range events {
					if e.Fields["MESSAGE_ID"] == msgID && e.Fields["INVOCATION_ID"] == tt.want.InvocationID {
						return e.Time
					}
				}
				return time.Time{}
			}
			want := tt.want
			want.StartedAt = at(msgUnitStarted)
			if want.ExitedAt = at(msgProcessExit); want.ExitedAt.IsZero() {
				want.ExitedAt = at(msgUnitSuccess)
			}
			if want.StartedAt.IsZero() || want.ExitedAt.IsZero() {
				t.Fatalf("the recording has no start or exit line for run %s", want.InvocationID)
			}
			if !equalState(got, want) {
				t.Errorf("StateFromEvents:\ngot  %+v\nwant %+v", got, want)
			}

			env, ok := facts.FromEnv(tt.unit, func(k string) string { return tt.monitor[k] })
			if !ok || env.Result != got.Result || env.ExitCode != got.ExitCode || env.ExitStatus != got.ExitStatus ||
				env.InvocationID != got.InvocationID {
				t.Errorf("the journal and MONITOR_* disagree:\njournal %+v\nmonitor %+v", got, env)
			}

			crashes := Crashes(events)
			for i := range crashes {
				crashes[i].Time = time.Time{}
			}
			if !slices.Equal(crashes, tt.wantCrashes) {
				t.Errorf("Crashes:\ngot  %+v\nwant %+v", crashes, tt.wantCrashes)
			}

			lines, err := j.RunLines(tt.unit, tt.want.InvocationID, len(tt.wantTail))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(messages(lines), tt.wantTail) {
				t.Errorf("RunLines:\ngot  %q\nwant %q", messages(lines), tt.wantTail)
			}
		})
	}
}
