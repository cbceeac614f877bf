package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/incident"
	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/outbox"
	"github.com/odoo-notify/odoo-notify/report"
)

// loopJournal is odoo.service failing three times and then running as run
// 4, which is SIGKILLed: the journal as it stood after each step, so that
// each dispatch reads what systemd had written by then.
type loopJournal struct {
	afterRun1, afterRun2, run4Running, afterRun4 string
}

func newLoopJournal(t *testing.T) loopJournal {
	sys := func(inv int, msg string, extra ...string) entry { return systemdLine(invID(inv), msg, extra...) }
	odoo := func(inv int, msg string) entry { return odooLine(invID(inv), msg) }
	started := func(inv int) entry {
		return sys(inv, "Started odoo.service - Odoo.", "MESSAGE_ID", "39f53479d3a045ac8e11786248231fbf")
	}
	exited := func(inv int, status string) entry {
		return sys(inv, "odoo.service: Main process exited, code=exited, status="+status+"/FAILURE", "MESSAGE_ID", "98e322203f7a4ed290d09fe03c09fe15", "EXIT_CODE", "exited", "EXIT_STATUS", status)
	}
	failed := func(inv int, result string) entry {
		return sys(inv, "odoo.service: Failed with result '"+result+"'.", "MESSAGE_ID", "d9b373ed55a64feb8242e02dbe79a49c", "UNIT_RESULT", result)
	}
	restart := func(inv, n int) entry {
		return sys(inv, fmt.Sprintf("odoo.service: Scheduled restart job, restart counter is at %d.", n), "MESSAGE_ID", "5eb03494b6584870a536b337290809b3", "N_RESTARTS", fmt.Sprint(n))
	}
	dbDown := func(inv int) []entry {
		return []entry{
			started(inv),
			odoo(inv, fmt.Sprintf("run %d: 2026-11-25 10:00:01,100 358 INFO ? odoo: Odoo version 17.0", inv)),
			odoo(inv, "Traceback (most recent call last):"),
			odoo(inv, `  File "/opt/odoo/odoo-bin", line 8, in <module>`),
			odoo(inv, "    odoo.cli.main()"),
			odoo(inv, `psycopg2.OperationalError: connection to server at "localhost" (127.0.0.1), port 5432 failed: Connection refused`),
			exited(inv, "1"),
			failed(inv, "exit-code"),
		}
	}
	var es []entry
	es = append(es, dbDown(1)...)
	es = append(es, restart(1, 1))
	n1 := len(es)
	es = append(es, dbDown(2)...)
	es = append(es, restart(2, 2))
	n2 := len(es)
	es = append(es,
		started(3),
		odoo(3, "run 3: 2026-11-25 10:00:20,100 400 INFO ? odoo: Odoo version 17.0"),
		odoo(3, "run 3: 2026-11-25 10:00:21,100 400 ERROR ? odoo.service.server: OSError: [Errno 98] Address already in use"),
		exited(3, "1"),
		failed(3, "exit-code"),
		restart(3, 3),
		started(4),
		odoo(4, "run 4: 2026-11-25 10:00:30,100 410 INFO ? odoo.service.server: HTTP service (werkzeug) running on 0.0.0.0:8069"),
	)
	n3 := len(es)
	es = append(es,
		odoo(4, "run 4: 2026-11-25 10:00:31,100 410 INFO erp odoo.modules.loading: loading 120 modules..."),
		sys(4, "odoo.service: Main process exited, code=killed, status=9/KILL", "MESSAGE_ID", "98e322203f7a4ed290d09fe03c09fe15", "EXIT_CODE", "killed", "EXIT_STATUS", "9"),
		failed(4, "signal"),
	)
	return loopJournal{
		afterRun1:   testenv.WriteJournal(t, es[:n1]),
		afterRun2:   testenv.WriteJournal(t, es[:n2]),
		run4Running: testenv.WriteJournal(t, es[:n3]),
		afterRun4:   testenv.WriteJournal(t, es),
	}
}

// historyJSON is what a reader of history --format json gets.
type historyJSON struct {
	Unit string `json:"unit"`
	Runs []struct {
		InvocationID string `json:"invocation_id"`
		Result       string `json:"result"`
		ExitCode     string `json:"exit_code"`
		ExitStatus   string `json:"exit_status"`
		Cause        string `json:"cause"`
		Incident     string `json:"incident"`
		Opened       bool   `json:"opened_incident"`
		Sent         []struct {
			Channel string `json:"channel"`
			Event   string `json:"event"`
		} `json:"sent"`
	} `json:"runs"`
	Incidents []struct {
		ID        string   `json:"id"`
		State     string   `json:"state"`
		Failures  int      `json:"failures"`
		Causes    string   `json:"causes"`
		Delivered []string `json:"delivered"`
	} `json:"incidents"`
}

// The facts of a report that preview --invocation must give exactly as
// the report that was sent: everything but the incident's part (event,
// incident, held failures) and what is new on each build (id, created).
var sameAsSent = []string{"invocation_id", "result", "exit_code", "exit_status", "n_restarts", "start_limit_hit", "started_at", "exited_at",
	"summary", "cause", "exception", "hints", "crashes", "lines", "errors", "log_source", "lines_problem"}

// A crash loop is dispatched run by run, as systemd would start the
// handler, with the journal as it stood then; the incident resolves and a
// new one opens. history lists the four runs with their causes and
// incidents, and preview --invocation of an older run builds the report
// that was sent for it: its own lines and cause, not the latest run's.
func TestHistoryListsRunsAndPreviewRebuildsAnOlderOne(t *testing.T) {
	j := newLoopJournal(t)
	r := newRig(t, rigOpts{limits: "dedup_window = \"10m\"\nmax_reports = 20\nper = \"1h\""})
	r.mail.start(t)

	r.journal = j.afterRun1
	r.want("run 1 (db down)", r.dispatch(failure{inv: 1, result: "exit-code", code: "exited", status: "1"}), 0)
	r.journal = j.afterRun2
	r.want("run 2 (the same failure)", r.dispatch(failure{inv: 2, result: "exit-code", code: "exited", status: "1"}), 0)
	r.journal = j.run4Running
	r.want("run 3 (port in use)", r.dispatch(failure{inv: 3, result: "exit-code", code: "exited", status: "1"}), 0)
	r.want("flush: run 4 runs, the incident resolves", r.flushWith(j.run4Running), 0)
	r.journal = j.afterRun4
	r.want("run 4 (SIGKILL)", r.dispatch(failure{inv: 4, result: "signal", code: "killed", status: "KILL"}), 0)

	sent := r.hookReports()
	if got := events(sent); !slices.Equal(got, []string{"firing", "update", "resolved", "firing"}) {
		t.Fatalf("webhook events = %v, want [firing update resolved firing]", got)
	}

	res := r.exec(r.command(nil, "history", "odoo.service", "--journal-file", j.afterRun4, "--format", "json"))
	r.want("history --format json", res, 0)
	var h historyJSON
	if err := json.Unmarshal([]byte(res.stdout), &h); err != nil {
		t.Fatalf("history --format json is not JSON: %v\n%s", err, res.stdout)
	}
	type row struct{ inv, result, exit, cause string }
	var rows []row
	for _, run := range h.Runs {
		rows = append(rows, row{run.InvocationID, run.Result, run.ExitCode + " " + run.ExitStatus, run.Cause})
	}
	want := []row{
		{invID(1), "exit-code", "exited 1", "db-unreachable"},
		{invID(2), "exit-code", "exited 1", "db-unreachable"},
		{invID(3), "exit-code", "exited 1", "port-in-use"},
		{invID(4), "signal", "killed KILL", "signal"},
	}
	if !slices.Equal(rows, want) {
		t.Fatalf("history rows:\n%v\nwant:\n%v", rows, want)
	}
	if len(h.Incidents) != 2 {
		t.Fatalf("history incidents = %+v, want the resolved one and the open one", h.Incidents)
	}
	first, second := h.Incidents[0], h.Incidents[1]
	if first.State != "resolved" || first.Failures != 3 || second.State != "open" || second.Failures != 1 {
		t.Errorf("incidents = %+v, want one resolved with 3 failures, then one open with 1", h.Incidents)
	}
	if first.ID != sent[0].Incident.ID || second.ID != sent[3].Incident.ID {
		t.Errorf("incident ids %s, %s; the webhook got %s and %s", first.ID, second.ID, sent[0].Incident.ID, sent[3].Incident.ID)
	}
	for i, wantInc := range []string{first.ID, first.ID, first.ID, second.ID} {
		if h.Runs[i].Incident != wantInc {
			t.Errorf("run %d belongs to incident %q, want %q", i+1, h.Runs[i].Incident, wantInc)
		}
	}
	if !h.Runs[0].Opened || h.Runs[1].Opened || !h.Runs[3].Opened {
		t.Errorf("opened_incident = %v %v %v %v, want runs 1 and 4", h.Runs[0].Opened, h.Runs[1].Opened, h.Runs[2].Opened, h.Runs[3].Opened)
	}
	channels := func(i int) []string {
		var out []string
		for _, s := range h.Runs[i].Sent {
			out = append(out, s.Channel+" "+s.Event)
		}
		slices.Sort(out)
		return out
	}
	if got := channels(0); !slices.Equal(got, []string{"hook firing", "mail firing", "slack firing"}) {
		t.Errorf("sent for run 1 = %v, want the opening report on every channel", got)
	}
	if got := channels(1); len(got) != 0 {
		t.Errorf("sent for run 2 = %v, want nothing (held back as a repeat)", got)
	}
	if got := channels(3); !slices.Equal(got, []string{"hook firing", "mail firing", "slack firing"}) {
		t.Errorf("sent for run 4 = %v, want the new opening on every channel", got)
	}

	text := r.exec(r.command(nil, "history", "odoo.service", "--journal-file", j.afterRun4))
	r.want("history", text, 0)
	t.Logf("odoo-notify history odoo.service:\n%s", text.stdout)
	for _, w := range []string{
		"odoo.service: 4 failed run(s) since",
		"exit-code  exited 1     db-unreachable  " + invID(1) + "  " + first.ID + " (opened)",
		"signal     killed KILL  signal          " + invID(4) + "  " + second.ID + " (opened)",
		"  " + first.ID + " resolved: opened ",
		"3 failure(s) (port-in-use x1, db-unreachable x2)",
		"odoo-notify preview odoo.service --invocation ID",
	} {
		if !strings.Contains(text.stdout, w) {
			t.Errorf("history text lacks %q:\n%s", w, text.stdout)
		}
	}

	// The reports sent for runs 1 (the opening) and 3 (an update), built
	// again from the whole journal: the same facts, lines and cause.
	for _, c := range []struct {
		inv    int
		sent   int
		cause  string
		line   string
		absent string
	}{
		{1, 0, "db-unreachable", "run 1: ", "run 3: "},
		{3, 1, "port-in-use", "Address already in use", "run 1: "},
	} {
		t.Run(fmt.Sprintf("preview --invocation of run %d", c.inv), func(t *testing.T) {
			res := r.exec(r.command(nil, "preview", "odoo.service", "--journal-file", j.afterRun4, "--format", "json", "--invocation", invID(c.inv)))
			r.want("preview --invocation", res, 0)
			var got, was map[string]any
			if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, res.stdout)
			}
			_, _, bodies := r.hook.got()
			if err := json.Unmarshal([]byte(bodies[c.sent]), &was); err != nil {
				t.Fatal(err)
			}
			if got["cause"] != c.cause || got["invocation_id"] != invID(c.inv) {
				t.Errorf("cause %v of run %v, want %s of run %d", got["cause"], got["invocation_id"], c.cause, c.inv)
			}
			lines, _ := json.Marshal(got["lines"])
			if !strings.Contains(string(lines), c.line) || strings.Contains(string(lines), c.absent) || strings.Contains(string(lines), "run 4: ") {
				t.Errorf("lines of run %d:\n%s", c.inv, lines)
			}
			for _, k := range sameAsSent {
				if !reflect.DeepEqual(got[k], was[k]) {
					t.Errorf("%s: preview --invocation has %v, the report sent had %v", k, got[k], was[k])
				}
			}
		})
	}

	latest := r.exec(r.command(nil, "preview", "odoo.service", "--journal-file", j.afterRun4, "--format", "json"))
	r.want("preview", latest, 0)
	if !strings.Contains(latest.stdout, `"invocation_id": "`+invID(4)+`"`) && !strings.Contains(latest.stdout, `"invocation_id":"`+invID(4)+`"`) {
		t.Errorf("preview without --invocation is not the latest run's:\n%s", latest.stdout)
	}

	bad := r.exec(r.command(nil, "preview", "odoo.service", "--journal-file", j.afterRun4, "--invocation", invID(9)))
	if bad.code != exitUsage || !strings.Contains(bad.stderr, "the journal holds no failed run "+invID(9)+" of odoo.service: odoo-notify history odoo.service lists them") {
		t.Errorf("preview --invocation of an unknown run: exit %d\n%s", bad.code, bad.stderr)
	}
}

// historyOf joins runs to incidents by their ids, else by time, and tells
// what went out for each from the ledger, the opening's channels and the
// outbox.
func TestHistoryOfJoinsRunsToIncidents(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	inc := incident.New()
	a := inc.Record(incident.Failure{Unit: "odoo.service", InvocationID: invID(1), Cause: "db-unreachable", At: at(0)})
	inc.Record(incident.Failure{Unit: "odoo.service", InvocationID: invID(3), Cause: "db-unreachable", At: at(8)})
	inc.Record(incident.Failure{Unit: "odoo.service", InvocationID: invID(2), Cause: "db-unreachable", At: at(5)})
	a.Announce(outbox.EntryID(&report.Report{Unit: "odoo.service", InvocationID: invID(1)}), "run:"+invID(1), "erp1: odoo.service crashed", "db-unreachable")
	a.MarkDelivered("mail")
	inc.Resolve("odoo.service", at(20), at(200))
	b := inc.Record(incident.Failure{Unit: "odoo.service", InvocationID: invID(4), Cause: "signal", At: at(250)})
	b.Announce(outbox.EntryID(&report.Report{Unit: "odoo.service", InvocationID: invID(4)}), "run:"+invID(4), "erp1: odoo.service crashed", "signal")
	inc.Record(incident.Failure{Unit: "nginx.service", InvocationID: invID(7), Cause: "signal", At: at(5)})

	runs := []historyRun{
		{Time: at(0), InvocationID: invID(1)},
		{Time: at(5), InvocationID: invID(2)},   // LastInvocation of a
		{Time: at(8), InvocationID: invID(3)},   // counted in a (held), by time
		{Time: at(220), InvocationID: invID(5)}, // after a resolved, within slack of b
		{Time: at(251), InvocationID: invID(4)},
		{Time: at(-600), InvocationID: invID(6)}, // before every incident
	}
	ledger := outbox.Ledger{"odoo.service": {"mail": {At: at(260), Event: "firing", ReportID: reportID("odoo.service", 4, "mail")}}}
	got, incs := historyOf("odoo.service", runs, inc, ledger, nil)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.Incident)
	}
	if want := []string{a.ID, a.ID, a.ID, "", b.ID, ""}; !slices.Equal(ids, want) {
		t.Errorf("incidents of the runs = %v, want %v", ids, want)
	}
	if !got[0].Opened || got[1].Opened || !got[4].Opened {
		t.Errorf("opened: %+v", got)
	}
	if len(got[0].Sent) != 1 || got[0].Sent[0].Channel != "mail" || got[0].Sent[0].Event != "firing" {
		t.Errorf("sent for run 1 = %+v, want the opening to mail", got[0].Sent)
	}
	if len(got[4].Sent) != 1 || !got[4].Sent[0].At.Equal(at(260)) {
		t.Errorf("sent for run 4 = %+v, want the ledger's delivery to mail", got[4].Sent)
	}
	if len(incs) != 2 || incs[0].State != "resolved" || incs[1].State != "open" {
		t.Errorf("incidents = %+v, want a resolved, b open (nginx's left out)", incs)
	}

	// Once b counts a second failure, run 5, which ended less than a
	// minute before b's opening time, is that failure.
	inc.Record(incident.Failure{Unit: "odoo.service", InvocationID: invID(5), Cause: "signal", At: at(249)})
	got, _ = historyOf("odoo.service", runs, inc, ledger, nil)
	if got[3].Incident != b.ID || got[5].Incident != "" {
		t.Errorf("run 5 in %q, run 6 in %q; want run 5 in b (%s), run 6 in none", got[3].Incident, got[5].Incident, b.ID)
	}
}

func TestParseSince(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7d", 7 * 24 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"36h", 36 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"0d", 0, false},
		{"-1h", 0, false},
		{"week", 0, false},
		{"", 0, false},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSince(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseSince(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}
