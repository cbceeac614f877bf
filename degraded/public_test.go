package degraded

import (
	"strings"
	"testing"
)

// TestPublicLines feeds the lines people posted (Odoo 10 to 18, see
// testdata/public/SOURCES.md) and checks what a person would be told.
func TestPublicLines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		opt    Options
		pids   []int
		kind   Kind
		n      int
		want   []string // in the opening notice's summary
		hint   string   // in a hint
		noSpel bool
	}{
		{
			name: "prefork worker timeouts, Odoo 12",
			file: "dockery-30-worker-timeout-compose.log",
			kind: TimeReal, n: 10,
			want: []string{"1 worker timeout (limit_time_real = 0)"},
			hint: "limit_time_real (0 s)",
		},
		{
			name: "threaded real time limit, Odoo 12",
			file: "installscript-235-real-time-limit.log",
			kind: TimeReal, n: 1,
			want: []string{"1 request past limit_time_real, server reloaded (limit_time_real = 120)"},
			hint: "workers >= 2",
		},
		{
			name: "worker memory limit names the request that grew it, Odoo 12",
			file: "koozic-36-worker-memory-soft.log",
			opt:  Options{Limits: Limits{MemorySoft: 400 << 20}},
			kind: MemorySoft, n: 1,
			want: []string{"1 worker recycled past limit_memory_soft (limit_memory_soft = 400 MiB, last at 465 MiB); last: POST /web/dataset/call_button, db koozic-v2"},
			hint: "limit_memory_soft (400 MiB)",
		},
		{
			name: "worker stopped at the CPU limit outside a request, Odoo 11",
			file: "vauxoo-395-cpu-time-limit.log",
			opt:  Options{Limits: Limits{TimeCPU: 60}},
			kind: TimeCPU, n: 1,
			want: []string{"1 request stopped at limit_time_cpu (limit_time_cpu = 60)"},
		},
		{
			name: "MemoryError in a cron job, Odoo 10",
			file: "odoo-36604-cron-memoryerror.log",
			opt:  Options{Limits: Limits{MemoryHard: 2560 << 20, Workers: 4}},
			kind: MemoryHard, n: 1,
			want: []string{"1 MemoryError (limit_memory_hard = 2560 MiB)"},
			hint: "4 x 2560 MiB = 10240 MiB",
		},
		{
			name: "kernel OOM kills of the unit's processes, old wording",
			file: "installscript-238-oom-old-wording.log",
			// the odoo processes; 20305 is postgres, not the unit's
			pids: []int{23735, 25129, 25700, 26963, 30271, 18538, 21693, 22890},
			opt:  Options{Unit: "odoo.service", Limits: Limits{Workers: 4, MemoryHard: 2560 << 20}},
			kind: OOMKill, n: 8,
			want: []string{"1 process killed by the kernel's OOM killer (last: 23735 (odoo))"},
			hint: "5 x 2560 MiB = 12800 MiB",
		},
		{
			name: "kernel OOM kill, CentOS 6 wording",
			file: "odoo-26963-oom-el6-wording.log",
			pids: []int{31217},
			kind: OOMKill, n: 1,
			want: []string{"(last: 31217 (python3))"},
		},
		{
			name:   "an OOM kill of a process that is not the unit's",
			file:   "odoo-26963-oom-el6-wording.log",
			pids:   []int{4242},
			noSpel: true,
		},
		{
			name:   "one request error, Odoo 18: no spell",
			file:   "docker-556-odoo18-request-keyerror.log",
			noSpel: true,
		},
		{
			name:   "one request error, Odoo 16 in journalctl's output: no spell",
			file:   "nixpkgs-288570-odoo16-not-initialized.log",
			noSpel: true,
		},
		{
			name:   "a line cut before Odoo's prefix is no record",
			file:   "auto-backup-148-workercron-timeout.log",
			noSpel: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(tc.opt)
			lines := paste(t, tc.file)
			if tc.pids != nil {
				d.Processes(lines[0].Time, 1, tc.pids)
			}
			ns := feed(d, lines)
			ns = append(ns, settle(d)...)
			if tc.noSpel {
				if len(ns) != 0 {
					t.Fatalf("notices %s, want none: %+v", states(ns), ns)
				}
				return
			}
			if got := states(ns); got != "opened,resolved" {
				t.Fatalf("notices %s, want opened,resolved: %+v", got, ns)
			}
			open, end := ns[0], ns[1]
			if open.Kind != tc.kind {
				t.Errorf("kind %s, want %s", open.Kind, tc.kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(open.Summary, w) {
					t.Errorf("summary %q\nwant it to hold %q", open.Summary, w)
				}
			}
			if got := count(end, tc.kind); got != tc.n {
				t.Errorf("resolved with %d %s, want %d (%s)", got, tc.kind, tc.n, end.Summary)
			}
			if !strings.HasPrefix(end.Summary, "quiet since ") {
				t.Errorf("resolved summary %q", end.Summary)
			}
			if tc.hint != "" && !strings.Contains(strings.Join(open.Hints, "\n"), tc.hint) {
				t.Errorf("hints %q\nwant one holding %q", open.Hints, tc.hint)
			}
			if len(open.Examples) == 0 {
				t.Errorf("no example line")
			}
		})
	}
}
