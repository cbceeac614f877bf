package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
)

// cli runs the program as main does, through run, with the environment
// variables odoo-notify reads set to env (and unset otherwise), and returns
// its stdout, stderr and exit code.
func cli(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	for _, k := range []string{"MONITOR_UNIT", "MONITOR_SERVICE_RESULT", "MONITOR_EXIT_CODE",
		"MONITOR_EXIT_STATUS", "MONITOR_INVOCATION_ID", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"} {
		t.Setenv(k, env[k])
	}
	if env["STATE_DIRECTORY"] == "" {
		// Each test its own outbox: never /var/lib/odoo-notify.
		t.Setenv("STATE_DIRECTORY", t.TempDir())
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, args, &out, &errb)
	return out.String(), errb.String(), exitCode(err)
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type entry = testenv.Entry

const (
	failedRun  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	earlierRun = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func odooLine(inv, msg string) entry {
	return entry{"_SYSTEMD_UNIT": "odoo.service", "_SYSTEMD_INVOCATION_ID": inv, "SYSLOG_IDENTIFIER": "odoo", "_TRANSPORT": "stdout", "MESSAGE": msg}
}

func systemdLine(inv, msg string, extra ...string) entry {
	e := entry{"UNIT": "odoo.service", "INVOCATION_ID": inv, "_PID": "1", "SYSLOG_IDENTIFIER": "systemd", "_TRANSPORT": "journal", "MESSAGE": msg}
	for i := 0; i+1 < len(extra); i += 2 {
		e[extra[i]] = extra[i+1]
	}
	return e
}

// interleaved is a journal where the failed run's lines are mixed with an
// earlier run's and another unit's.
func interleaved(t *testing.T) string {
	other := func(msg string) entry {
		return entry{"_SYSTEMD_UNIT": "nginx.service", "_SYSTEMD_INVOCATION_ID": "cccccccccccccccccccccccccccccccc", "_TRANSPORT": "stdout", "MESSAGE": msg}
	}
	return testenv.WriteJournal(t, []entry{
		systemdLine(earlierRun, "Started odoo.service - Odoo.", "MESSAGE_ID", "39f53479d3a045ac8e11786248231fbf"),
		odooLine(earlierRun, "earlier run: serving on 8069"),
		other("nginx: GET /web 200"),
		odooLine(earlierRun, "earlier run: stopping"),
		systemdLine(failedRun, "Started odoo.service - Odoo.", "MESSAGE_ID", "39f53479d3a045ac8e11786248231fbf"),
		odooLine(failedRun, "failed run: loading registry"),
		other("nginx: GET /web 502"),
		odooLine(failedRun, "failed run: psycopg2.OperationalError: connection refused"),
		systemdLine(failedRun, "odoo.service: Main process exited, code=exited, status=1/FAILURE", "MESSAGE_ID", "98e322203f7a4ed290d09fe03c09fe15", "EXIT_CODE", "exited", "EXIT_STATUS", "1"),
		systemdLine(failedRun, "odoo.service: Failed with result 'exit-code'.", "MESSAGE_ID", "d9b373ed55a64feb8242e02dbe79a49c", "UNIT_RESULT", "exit-code"),
		other("nginx: GET /web 502"),
	})
}

func monitorEnv(inv string) map[string]string {
	return map[string]string{
		"MONITOR_UNIT": "odoo.service", "MONITOR_SERVICE_RESULT": "exit-code",
		"MONITOR_EXIT_CODE": "exited", "MONITOR_EXIT_STATUS": "1", "MONITOR_INVOCATION_ID": inv,
	}
}

func TestPreviewJSONTakesOnlyTheFailedRun(t *testing.T) {
	j := interleaved(t)
	cfg := writeFile(t, t.TempDir(), "config.toml", "[general]\nhostname = \"erp1\"\n")
	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"state from MONITOR_* environment", monitorEnv(failedRun)},
		{"state from systemd's journal messages", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := cli(t, tt.env, "preview", "odoo.service", "--format", "json", "--config", cfg, "--journal-file", j)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			var r struct {
				Schema       string `json:"schema"`
				Host         string `json:"host"`
				Unit         string `json:"unit"`
				InvocationID string `json:"invocation_id"`
				Result       string `json:"result"`
				ExitCode     string `json:"exit_code"`
				ExitStatus   string `json:"exit_status"`
				Lines        []struct {
					Message string `json:"message"`
				} `json:"lines"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("preview --format json is not JSON: %v\n%s", err, out)
			}
			if r.Schema != "odoo-notify/report/v1" || r.Host != "erp1" || r.Unit != "odoo.service" ||
				r.InvocationID != failedRun || r.Result != "exit-code" || r.ExitCode != "exited" || r.ExitStatus != "1" {
				t.Errorf("report facts wrong: %+v", r)
			}
			var msgs []string
			for _, l := range r.Lines {
				msgs = append(msgs, l.Message)
			}
			want := []string{
				"Started odoo.service - Odoo.",
				"failed run: loading registry",
				"failed run: psycopg2.OperationalError: connection refused",
				"odoo.service: Main process exited, code=exited, status=1/FAILURE",
				"odoo.service: Failed with result 'exit-code'.",
			}
			if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
				t.Errorf("lines of the report:\n%s\nwant exactly the failed run's:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestPreviewTextSaysWhatFailed(t *testing.T) {
	j := interleaved(t)
	cfg := writeFile(t, t.TempDir(), "config.toml", "[general]\nhostname = \"erp1\"\n")
	out, errOut, code := cli(t, monitorEnv(failedRun), "preview", "--config", cfg, "--journal-file", j, "odoo.service")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"erp1: odoo.service failed (exit status 1)", "failed run: psycopg2.OperationalError", "Invocation: " + failedRun} {
		if !strings.Contains(out, want) {
			t.Errorf("preview text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "earlier run") || strings.Contains(out, "nginx") {
		t.Errorf("preview text holds lines of another run or unit:\n%s", out)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		file     string
		wantCode int
		want     []string
		never    []string
	}{
		{
			name: "valid, secrets hidden",
			file: "[[email]]\nhost = \"smtp.example.com\"\nusername = \"u\"\npassword = \"hunter2-pass\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n" +
				"[[slack]]\nwebhook_url = \"https://hooks.slack.com/services/T0/B0/SLACKSECRET\"\n" +
				"[[webhook]]\nurl = \"https://alerts.example.com/hook?token=URLSECRET\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n[webhook.headers]\nAuthorization = \"Bearer HEADERSECRET\"\n",
			wantCode: 0,
			want:     []string{"is valid: 3 channel(s)", `password = "<secret>"`, `webhook_url = "<secret>"`, `url = "<secret>"`, `Authorization = "<secret>"`},
			never:    []string{"hunter2-pass", "SLACKSECRET", "URLSECRET", "HEADERSECRET", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		},
		{
			name:     "every problem of a broken file",
			file:     "[general]\ntimeout = \"soon\"\ncolour = \"blue\"\n[[email]]\nhost = \"h\"\nfrom = \"a@example.com\"\npassword = \"p\"\npassword_file = \"/p\"\n[[slack]]\n",
			wantCode: 78,
			want: []string{
				"general.colour: unknown key",
				`general.timeout: "soon" is not a duration`,
				"email[0].to: required",
				"slack[0].webhook_url: required",
			},
		},
		{
			name:     "semantic problems together",
			file:     "[general]\ntimeout = \"soon\"\n[[email]]\nhost = \"h\"\nfrom = \"a@example.com\"\nusername = \"u\"\npassword = \"p\"\npassword_file = \"/p\"\n[[slack]]\n",
			wantCode: 78,
			want: []string{
				`general.timeout: "soon" is not a duration`,
				"email[0].password: set either password or password_file, not both",
				"email[0].to: required",
				"slack[0].webhook_url: required",
			},
		},
		{
			name:     "syntax error with its line",
			file:     "[general]\n\njournal_lines = = 3\n",
			wantCode: 78,
			want:     []string{"syntax error at line 3"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, dir, fmt.Sprintf("c%d.toml", i), tt.file)
			out, errOut, code := cli(t, nil, "check-config", "--config", p)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			all := out + errOut
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, n := range tt.never {
				if strings.Contains(all, n) {
					t.Errorf("output shows secret %q:\n%s", n, all)
				}
			}
		})
	}
}

func TestCheckConfigWarnsOfReadableSecrets(t *testing.T) {
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret.toml", "[[slack]]\nwebhook_url = \"https://hooks.slack.com/services/T0/B0/KEY\"\n")
	byFile := writeFile(t, dir, "byfile.toml", "[[slack]]\nwebhook_url_file = \""+writeFile(t, dir, "url", "https://hooks.slack.com/services/T0/B0/KEY")+"\"\n")
	for _, p := range []string{secret, byFile} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, errOut, code := cli(t, nil, "check-config", "--config", secret)
	if code != 0 || !strings.Contains(errOut, "holds secrets and every user can read it (mode 0644)") {
		t.Errorf("exit %d, stderr %q: want a warning about the mode", code, errOut)
	}
	_, errOut, _ = cli(t, nil, "check-config", "--config", byFile)
	if strings.Contains(errOut, "warning") {
		t.Errorf("warned about a file that holds no secret: %q", errOut)
	}
}

func TestCheckConfigMissingFile(t *testing.T) {
	_, errOut, code := cli(t, nil, "check-config", "--config", "/nonexistent/odoo-notify.toml")
	if code != 78 || !strings.Contains(errOut, "no such file") {
		t.Errorf("exit %d, stderr %q; want 78 and the reason", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"dispatchh"}, `unknown command "dispatchh"`},
		{"dispatch without unit", []string{"dispatch"}, "give exactly one unit"},
		{"unknown flag", []string{"preview", "--fromat", "json", "odoo.service"}, "odoo-notify: preview: unknown flag --fromat\nUsage: odoo-notify preview UNIT"},
		{"bad format", []string{"preview", "--format", "yaml", "odoo.service"}, `--format must be text or json, not "yaml"`},
		{"unknown channel", []string{"test", "--config", "../../config.example.toml", "--channel", "ops"}, `no channel named "ops"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := cli(t, nil, tt.args...)
			if code != 64 {
				t.Errorf("exit %d, want 64", code)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr lacks %q\nstdout: %s\nstderr: %s", tt.want, out, errOut)
			}
			if n := strings.Count(errOut, "Usage:"); n != 1 {
				t.Errorf("the usage is printed %d times, want once:\n%s", n, errOut)
			}
			if strings.Count(errOut, tt.want) != 1 {
				t.Errorf("the error is printed more than once:\n%s", errOut)
			}
			if out != "" {
				t.Errorf("a usage error printed to stdout: %q", out)
			}
		})
	}
}

func TestDispatchWithoutChannelsWritesTheJournal(t *testing.T) {
	j := interleaved(t)
	cfg := writeFile(t, t.TempDir(), "config.toml", "[general]\nhostname = \"erp1\"\n")
	out, errOut, code := cli(t, monitorEnv(failedRun), "dispatch", "--config", cfg, "--journal-file", j, "odoo.service")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if out != "" {
		t.Errorf("dispatch printed to stdout: %q", out)
	}
	for _, want := range []string{"no channel is configured", "erp1: odoo.service failed (exit status 1)", "failed run: psycopg2.OperationalError"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr (the journal) lacks %q:\n%s", want, errOut)
		}
	}
}

func TestDispatchWithBrokenConfigStillReports(t *testing.T) {
	j := interleaved(t)
	cfg := writeFile(t, t.TempDir(), "config.toml", "[[slack]]\nwebhook_ur = \"x\"\n")
	_, errOut, code := cli(t, monitorEnv(failedRun), "dispatch", "--config", cfg, "--journal-file", j, "odoo.service")
	if code != 78 {
		t.Errorf("exit %d, want 78", code)
	}
	for _, want := range []string{"config is invalid", "slack.webhook_ur: unknown key", "odoo.service failed (exit status 1)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, code := cli(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "odoo-notify ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// A crash loop recorded on systemd 252 (Restart=on-failure, stopped by the
// start limit): MONITOR_* says only "exit-code"; the restart count and the
// start limit come from systemd's journal messages.
func TestPreviewCrashLoopOnSystemd252(t *testing.T) {
	j := testenv.ImportExport(t, "../../journal/testdata/crashloop-252.export")
	cfg := writeFile(t, t.TempDir(), "config.toml", "[general]\nhostname = \"erp1\"\n")
	env := map[string]string{
		"MONITOR_UNIT": "crashy.service", "MONITOR_SERVICE_RESULT": "exit-code", "MONITOR_EXIT_CODE": "exited",
		"MONITOR_EXIT_STATUS": "3", "MONITOR_INVOCATION_ID": "995a353f97f24e5dbe955702f7a7761a",
	}
	out, errOut, code := cli(t, env, "preview", "crashy.service", "--format", "json", "--config", cfg, "--journal-file", j)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var r struct {
		Result        string `json:"result"`
		NRestarts     int    `json:"n_restarts"`
		StartLimitHit bool   `json:"start_limit_hit"`
		Crashes       []struct {
			InvocationID string `json:"invocation_id"`
		} `json:"crashes"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Result != "exit-code" || r.NRestarts != 5 || !r.StartLimitHit || len(r.Crashes) != 5 {
		t.Errorf("result %q, n_restarts %d, start_limit_hit %v, %d crashes; want exit-code, 5, true, 5", r.Result, r.NRestarts, r.StartLimitHit, len(r.Crashes))
	}
	text, _, _ := cli(t, env, "preview", "crashy.service", "--config", cfg, "--journal-file", j)
	if !strings.Contains(text, "start limit hit after 5 restarts, last: exit status 3") {
		t.Errorf("the subject does not tell the crash loop:\n%s", text)
	}
}
