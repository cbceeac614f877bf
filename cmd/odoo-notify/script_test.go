package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestScripts runs testdata/script/*.txtar: one file per command, its
// usage, messages and exit codes, readable as documentation. The scripts
// run the real program (TestMain) against real journal files, a real
// mailpit and an HTTP receiver that records what it got.
//
// Each script has:
//
//	$LOOP_JOURNAL  a journal file in which odoo.service failed four times
//	               (db down twice, port in use, SIGKILL), made by
//	               systemd-journal-remote
//	$SMTP_PORT     mailpit's SMTP port; `mail` prints the subjects it holds
//	$WEBHOOK_URL   the receiver: 200 for any path, NNN for /status/NNN;
//	               `received` prints what it got, one line a request
//	$STATE_DIRECTORY  $WORK/state, so no script touches /var/lib/odoo-notify
//
// and the commands `exits N prog args...`, which runs prog and fails unless
// it exits N, and `expand FILE...`, which puts the values of $VARS in
// FILE (a config that names the servers' ports).
func TestScripts(t *testing.T) {
	loop := newLoopJournal(t).afterRun4
	mail := testenv.StartMailpit(t, "--smtp-auth-accept-any", "--smtp-auth-allow-insecure")
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			rec := &receiver{}
			srv := httptest.NewServer(rec)
			e.Defer(srv.Close)
			e.Values[receiverKey{}] = rec
			e.Setenv("LOOP_JOURNAL", loop)
			e.Setenv("SMTP_PORT", strconv.Itoa(mail.Port))
			e.Setenv("MAILPIT_API", mail.API)
			e.Setenv("WEBHOOK_URL", srv.URL)
			e.Setenv("STATE_DIRECTORY", e.WorkDir+"/state")
			e.Setenv("TZ", "UTC")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits CODE program [args...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: %q is not an exit code", args[0])
				}
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					ee, ok := err.(*exec.ExitError)
					if !ok {
						ts.Fatalf("exits: %v", err)
					}
					got = ee.ExitCode()
				}
				if got != want {
					ts.Fatalf("%s exited %d, want %d", args[1], got, want)
				}
			},
			"expand": func(ts *testscript.TestScript, neg bool, args []string) {
				for _, f := range args {
					text := os.Expand(ts.ReadFile(f), ts.Getenv)
					ts.Check(os.WriteFile(ts.MkAbs(f), []byte(text), 0o600))
				}
			},
			"received": func(ts *testscript.TestScript, neg bool, args []string) {
				rec := ts.Value(receiverKey{}).(*receiver)
				fmt.Fprint(ts.Stdout(), rec.String())
			},
			"mail": func(ts *testscript.TestScript, neg bool, args []string) {
				var list struct {
					Messages []struct{ Subject string }
				}
				mail.Get(t, "/api/v1/messages", &list)
				for _, m := range list.Messages {
					fmt.Fprintln(ts.Stdout(), m.Subject)
				}
			},
		},
	})
}

type receiverKey struct{}

// receiver records every request it gets: "POST /path body".
type receiver struct {
	mu  sync.Mutex
	got []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, req.Method+" "+req.URL.Path+" "+strings.ReplaceAll(string(b), "\n", " "))
	r.mu.Unlock()
	if code, ok := strings.CutPrefix(req.URL.Path, "/status/"); ok {
		n, _ := strconv.Atoi(code)
		http.Error(w, `{"error":"answered `+code+` as asked"}`, n)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, g := range r.got {
		b.WriteString(g + "\n")
	}
	return b.String()
}
