package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/gate"
	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// appendConfig adds TOML to the rig's config file.
func (r *rig) appendConfig(toml string) {
	r.t.Helper()
	f, err := os.OpenFile(r.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + toml + "\n"); err != nil {
		r.t.Fatal(err)
	}
}

// One channel that cannot be built must not silence the others, and
// check-config must name it.
func TestFailSafeBrokenChannelOthersDeliver(t *testing.T) {
	notPEM := writeFile(t, t.TempDir(), "ca.txt", "this is not a certificate\n")
	cases := []struct {
		name, toml, want string
	}{
		{"ca_file missing", "[[email]]\nname = \"bad\"\nhost = \"127.0.0.1\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\nca_file = \"/nonexistent/ca.pem\"\n", "email bad"},
		{"ca_file not PEM", "[[email]]\nname = \"bad\"\nhost = \"127.0.0.1\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\nca_file = \"" + notPEM + "\"\n", "holds no PEM certificate"},
		{"header with a newline", "[[webhook]]\nname = \"bad\"\nurl = \"http://127.0.0.1:1/x\"\n[webhook.headers]\nX-Token = \"a\\nb\"\n", "line break"},
		{"header odoo-notify sets", "[[webhook]]\nname = \"bad\"\nurl = \"http://127.0.0.1:1/x\"\n[webhook.headers]\nwebhook-id = \"mine\"\n", "set by odoo-notify"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, rigOpts{})
			r.mail.start(t)
			r.appendConfig(c.toml)

			res := r.exec(r.command(nil, "check-config"))
			r.want("check-config", res, 78)
			if !strings.Contains(res.stderr, c.want) || !strings.Contains(res.stderr, "bad") {
				t.Errorf("check-config does not name the broken channel (%q):\n%s", c.want, res.stderr)
			}

			res = r.dispatch(failure{inv: 100 + i})
			r.want("dispatch", res, 78)
			if !strings.Contains(res.stderr, c.want) {
				t.Errorf("dispatch does not say which channel is broken:\n%s", res.stderr)
			}
			if _, accepted, _ := r.hook.got(); len(accepted) != 1 {
				t.Errorf("the healthy webhook got %d reports, want 1", len(accepted))
			}
			if _, accepted, _ := r.slack.got(); len(accepted) != 1 {
				t.Errorf("Slack got %d reports, want 1", len(accepted))
			}
			if n := len(r.mail.messageIDs(t, 1)); n != 1 {
				t.Errorf("the healthy mail channel got %d, want 1", n)
			}
		})
	}
}

// A state written while the clock was a day ahead must not hold every new
// report until the clock catches up.
func TestFailSafeFutureSentTimesDoNotHoldReports(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	r.want("first dispatch", r.dispatch(failure{inv: 1}), 0)
	path := filepath.Join(r.dir, "gate.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := gate.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	u := st.Units["odoo.service"]
	if u == nil {
		t.Fatalf("no unit state in %s", b)
	}
	tomorrow := time.Now().Add(24 * time.Hour)
	u.Sent = nil
	for i := range 5 {
		u.Sent = append(u.Sent, tomorrow.Add(time.Duration(i)*time.Minute))
	}
	u.LastSent = nil
	if b, err = st.Encode(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	res := r.dispatch(failure{inv: 2, result: "watchdog", code: "killed", status: "ABRT"})
	r.want("dispatch after the clock went back", res, 0)
	if strings.Contains(res.stderr, "max_reports") {
		t.Errorf("the report was held by max_reports:\n%s", res.stderr)
	}
	if _, accepted, _ := r.hook.got(); len(accepted) != 2 {
		t.Errorf("webhook got %d reports, want 2", len(accepted))
	}
}

// A failed test-fire is neither kept nor sent later, and it shows its own
// error even when older reports wait for the same channel.
func TestFailSafeTestFireIsNeverSpooled(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	r.hook.mode.Store("500")
	r.want("dispatch while the webhook fails", r.dispatch(failure{inv: 1}), 75)
	if n := r.pending(); n != 1 {
		t.Fatalf("%d reports wait, want the real one", n)
	}

	res := r.exec(r.command(nil, "test", "--channel", "hook"))
	r.want("test while the webhook fails", res, 75)
	if strings.Contains(res.stdout, "failed just before") || !strings.Contains(res.stdout, "500") {
		t.Errorf("test does not show its own error:\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, "not kept") {
		t.Errorf("test does not say the failed test report is not kept:\n%s", res.stdout)
	}
	if n := r.pending(); n != 1 {
		t.Errorf("%d reports wait after a failed test, want only the real one", n)
	}

	r.hook.mode.Store("ok")
	res = r.exec(r.command(nil, "test", "--channel", "hook"))
	r.want("test once the webhook works", res, 0)
	r.want("flush", r.flush(), 0)
	_, accepted, bodies := r.hook.got()
	tests := 0
	for _, b := range bodies {
		if strings.Contains(b, "odoo-notify-test.service") {
			tests++
		}
	}
	if tests != 1 || len(accepted) != 2 {
		t.Errorf("webhook accepted %d reports, %d of them tests: want the real one and one test", len(accepted), tests)
	}
}

// check-config lists a wrong type with the other problems, and range-checks
// the rate.
func TestFailSafeCheckConfigListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		file string
		want []string
	}{
		{
			file: "[general]\njournal_lines = \"50\"\n[[email]]\nhost = \"h\"\nport = 70000\nfrom = \"not an address\"\nto = [\"b@example.com\"]\n[[webhook]]\nurl = \"ftp://x\"\n",
			want: []string{"general.journal_lines: is a string here but must be an integer", "email[0].port: must be between 1 and 65535", "email[0].from:", "webhook[0].url: must be an absolute http"},
		},
		{
			file: "[[webhook]]\nurl = \"https://example.com/x\"\nrate = 1e-20\n",
			want: []string{"webhook[0].rate:", "less than one a day"},
		},
		{
			file: "[[webhook]]\nurl = \"https://example.com/x\"\nrate = 1e9\n",
			want: []string{"webhook[0].rate:", "at most 1000"},
		},
	} {
		p := writeFile(t, dir, fmt.Sprintf("c%d.toml", i), c.file)
		out, errOut, code := cli(t, nil, "check-config", "--config", p)
		if code != 78 {
			t.Errorf("case %d: exit %d, want 78\n%s%s", i, code, out, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("case %d: output lacks %q:\n%s", i, w, errOut)
			}
		}
	}
}

// 10,000 lines of 17 KB asked for: every channel gets a report within its
// byte budget, the report says older lines were left out, and the handler
// stays small.
func TestFailSafeHugeRunStaysWithinBudgets(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	b, err := os.ReadFile(r.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.config, []byte(strings.Replace(string(b), "[general]\n", "[general]\njournal_lines = 10000\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Streamed into the journal, not built in memory: the handler's peak
	// RSS as the kernel reports it includes this process's, which forked it.
	line := strings.Repeat("Traceback frame é ", 17<<10/19)
	r.journal = filepath.Join(t.TempDir(), "huge.journal")
	testenv.ImportJournal(t, r.journal, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for i := range 10000 {
			fmt.Fprintf(bw, "__CURSOR=s=0;i=%d\n__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0b0e1f2a3b4c5d6e7f8091a2b3c4d5e6\n_HOSTNAME=erp1\nPRIORITY=6\n",
				i+1, testenv.JournalStart.Add(time.Duration(i)*time.Millisecond).UnixMicro(), int64(i+1)*1000)
			for _, kv := range [][2]string{{"_SYSTEMD_UNIT", "odoo.service"}, {"_SYSTEMD_INVOCATION_ID", invID(1)}, {"SYSLOG_IDENTIFIER", "odoo"}, {"_TRANSPORT", "stdout"}, {"MESSAGE", fmt.Sprintf("%05d %s", i, line)}} {
				testenv.ExportField(bw, kv[0], kv[1])
			}
			bw.WriteByte('\n')
		}
		return bw.Flush()
	})
	runtime.GC()
	debug.FreeOSMemory()

	cmd := r.command(&failure{inv: 1})
	res := r.exec(cmd)
	r.want("dispatch", res, 0)
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	t.Logf("peak RSS %.1f MiB", float64(rss)/(1<<20))
	if rss > 100<<20 {
		t.Errorf("the handler peaked at %d MiB, want under 100", rss>>20)
	}
	_, _, bodies := r.hook.got()
	if len(bodies) != 1 {
		t.Fatalf("webhook got %d reports, want 1", len(bodies))
	}
	if n := len(bodies[0]); n >= 1<<20 {
		t.Errorf("webhook body is %d bytes, want under 1 MiB", n)
	}
	if !strings.Contains(bodies[0], "09999 Traceback") || !strings.Contains(bodies[0], "older lines left out") {
		t.Errorf("the webhook report lacks the newest line or does not say older lines were left out")
	}
	_, _, slackBodies := r.slack.got()
	if len(slackBodies) != 1 || len(slackBodies[0]) > 40000 {
		t.Errorf("Slack got %d posts; want 1 within Slack's limits", len(slackBodies))
	}
	ids := r.mail.messageIDs(t, 1)
	if len(ids) != 1 {
		t.Fatalf("mail got %d, want 1", len(ids))
	}
	if raw := r.mail.Raw(t, r.mail.Messages(t, 1)[0].ID); len(raw) >= 10_000_000 {
		t.Errorf("the mail is %d bytes, want under 10 MB", len(raw))
	} else {
		t.Logf("webhook %d bytes, mail %d bytes, slack %d bytes", len(bodies[0]), len(raw), len(slackBodies[0]))
	}
}

// stopPost runs the hook as ExecStopPost= would after a run ended with result.
func (r *rig) stopPost(result string, inv int) result {
	cmd := r.command(nil, "hook", "odoo.service")
	cmd.Env = append(cmd.Env, "SERVICE_RESULT="+result, "EXIT_CODE=exited", "EXIT_STATUS=3", "INVOCATION_ID="+invID(inv))
	return r.exec(cmd)
}

func (r *rig) recorded() int {
	des, _ := os.ReadDir(filepath.Join(r.dir, "failed"))
	return len(des)
}

// The hook records a failed run before anything else, so a handler killed
// in its first milliseconds (here: never run) loses nothing: flush reports
// the run, once.
func TestFailSafeHookRecordsTheRunBeforeTheHandler(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	r.journal = testenv.WriteJournal(t, []testenv.Entry{
		{"_SYSTEMD_UNIT": "odoo.service", "_SYSTEMD_INVOCATION_ID": invID(7), "SYSLOG_IDENTIFIER": "odoo", "_TRANSPORT": "stdout", "MESSAGE": "psycopg2.OperationalError: connection to server failed"},
	})

	r.want("hook after a clean stop", r.stopPost("success", 6), 0)
	if n := r.recorded(); n != 0 {
		t.Errorf("a clean stop left %d records, want none", n)
	}
	res := r.stopPost("exit-code", 7)
	r.want("hook after a failed run", res, 0)
	if n := r.recorded(); n != 1 {
		t.Fatalf("the hook left %d records, want 1", n)
	}
	if !strings.Contains(res.stderr, "cannot start the handler") {
		t.Errorf("the hook does not say the handler could not be started (no D-Bus here):\n%s", res.stderr)
	}

	res = r.exec(r.command(nil, "flush", "--journal-file", r.journal))
	r.want("flush", res, 0)
	if !strings.Contains(res.stdout, "reported 1 failed run") {
		t.Errorf("flush does not say it reported the recorded run:\n%s", res.stdout)
	}
	_, _, bodies := r.hook.got()
	if len(bodies) != 1 || !strings.Contains(bodies[0], invID(7)) || !strings.Contains(bodies[0], "psycopg2.OperationalError") {
		t.Fatalf("webhook got %d reports, want the recorded run's with its log line: %.300q", len(bodies), bodies)
	}
	if n := r.recorded(); n != 0 {
		t.Errorf("%d records remain after flush reported them", n)
	}
	r.want("flush again", r.exec(r.command(nil, "flush", "--journal-file", r.journal)), 0)
	if _, _, bodies := r.hook.got(); len(bodies) != 1 {
		t.Errorf("the recorded run was reported %d times", len(bodies))
	}
}

// The handler the hook started (no MONITOR_* from systemd) reports the run
// the hook recorded, and flush does not report it again.
func TestFailSafeHandlerReportsTheHooksRun(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	r.want("hook", r.stopPost("exit-code", 1), 0)
	cmd := r.command(nil, "dispatch", "odoo.service", "--journal-file", r.journal)
	res := r.exec(cmd)
	r.want("dispatch started by the hook", res, 0)
	_, _, bodies := r.hook.got()
	if len(bodies) != 1 || !strings.Contains(bodies[0], invID(1)) || !strings.Contains(bodies[0], `"exit-code"`) {
		t.Fatalf("webhook got %d reports, want the hook's run: %.300q", len(bodies), bodies)
	}
	if n := r.recorded(); n != 0 {
		t.Errorf("%d records remain after the handler reported the run", n)
	}
	r.want("OnFailure= for the same run", r.dispatch(failure{inv: 1}), 0)
	r.want("flush", r.flush(), 0)
	if _, _, bodies := r.hook.got(); len(bodies) != 1 {
		t.Errorf("the run was reported %d times, want once", len(bodies))
	}
}

// A claim that cannot be taken is an error that says what to fix, and the
// report counts as waiting; a directory in a claim's place is cleaned.
func TestFailSafeStuckClaimSaysWhatToFix(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.mail.start(t)
	r.hook.mode.Store("500")
	r.want("dispatch while the webhook fails", r.dispatch(failure{inv: 1}), 75)
	r.hook.mode.Store("ok")
	matches, _ := filepath.Glob(filepath.Join(r.dir, "outbox", "*.claim"))
	if len(matches) != 1 {
		t.Fatalf("claims in the outbox: %q, want 1", matches)
	}
	claim := matches[0]
	if err := os.Remove(claim); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(claim, "junk"), 0o755); err != nil {
		t.Fatal(err)
	}

	res := r.flush()
	r.want("flush with a non-empty directory as the claim", res, 75)
	if !strings.Contains(res.stderr, claim) || !strings.Contains(res.stderr, "remove it") || strings.Contains(res.stderr, "another odoo-notify process") {
		t.Errorf("flush does not say which claim to fix:\n%s", res.stderr)
	}
	if !strings.Contains(res.stdout, "waiting 1") {
		t.Errorf("flush does not count the stuck report as waiting: %q", res.stdout)
	}

	os.Remove(filepath.Join(claim, "junk"))
	r.want("flush with an empty directory as the claim", r.flush(), 0)
	if _, accepted, _ := r.hook.got(); len(accepted) != 1 {
		t.Errorf("the webhook got %d reports, want the stuck one", len(accepted))
	}
}
