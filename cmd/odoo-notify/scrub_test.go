package main

// Secrets that a receiver echoes back in its error answer: the CLI's
// output, its log and the outbox's state files show none of them, whole or
// in part.

import (
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// echoServer answers every request with status and the text answer builds
// from the request, as a receiver quoting what it got would.
func echoServer(t *testing.T, status *atomic.Int32, answer func(r *http.Request) string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, answer(r))
	}))
	t.Cleanup(s.Close)
	return s
}

// runEchoed runs `odoo-notify test` while the receivers answer 400 and
// `dispatch` while they answer 500 (the report then waits in the outbox
// with its last_error), and returns everything a user sees: stdout, stderr
// and every file under the state folder.
func runEchoed(t *testing.T, status *atomic.Int32, config string) string {
	t.Helper()
	state := t.TempDir()
	env := monitorEnv(failedRun)
	env["STATE_DIRECTORY"] = state
	status.Store(http.StatusBadRequest)
	out, errOut, code := cli(t, env, "test", "--config", config)
	if code == exitOK {
		t.Fatalf("test: exit 0 though every receiver answers 400:\n%s", out)
	}
	seen := out + errOut
	status.Store(http.StatusInternalServerError)
	out, errOut, code = cli(t, env, "dispatch", "--config", config, "--journal-file", interleaved(t), "odoo.service")
	if code != exitTempFail {
		t.Fatalf("dispatch: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitTempFail, out, errOut)
	}
	seen += out + errOut
	var files int
	err := filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if strings.Contains(string(b), "last_error") {
			files++
		}
		seen += string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no state file under %s records a last_error: the check would prove nothing", state)
	}
	if !strings.Contains(seen, "<secret>") {
		t.Errorf("no answer was quoted with its secret hidden")
	}
	return seen
}

// noSecretPart fails t when any 7 characters of a secret, as given or
// escaped for a URL, are in seen: a secret cut in the middle shows its
// start.
func noSecretPart(t *testing.T, seen string, secrets ...string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Log(seen)
		}
	}()
	const part = 7
	for _, s := range secrets {
		for _, form := range []string{s, url.PathEscape(s), url.QueryEscape(s)} {
			for i := 0; i+part <= len(form); i++ {
				if strings.Contains(seen, form[i:i+part]) {
					t.Errorf("%q of secret %q is shown", form[i:i+part], s)
					break
				}
			}
		}
	}
}

func echoConfig(t *testing.T, slackURL, hookURL string) string {
	return writeFile(t, t.TempDir(), "config.toml", fmt.Sprintf(`
[general]
hostname = "erp1"
timeout = "10s"

[[slack]]
name = "ops-slack"
webhook_url = %q
timeout = "3s"

[[webhook]]
name = "alerts"
url = %q
timeout = "3s"
`, slackURL, hookURL))
}

// A Slack key echoed just before the 200th character of the answer, and a
// webhook token echoed URL-escaped: the quoted answer is scrubbed before it
// is cut, and each secret is hidden in its escaped forms too.
func TestEchoedSecretAtTheCutIsHidden(t *testing.T) {
	const (
		slackKey  = "xoxbQz7KeyW3rT9yU1iO5pA"
		hookToken = "Hk7:Tq9@Zx4/Wm2+Lp8"
	)
	// at190 puts s at the 190th character of the answer: the cut at 200
	// would keep its first ten.
	at190 := func(lead, s string) string { return strings.Repeat("x", 190-len(lead)) + lead + s }
	var status atomic.Int32
	var slackURL string
	slack := echoServer(t, &status, func(r *http.Request) string {
		if r.URL.Query().Has("whole") {
			return at190(" no such webhook ", slackURL)
		}
		return at190(" invalid_token ", slackKey)
	})
	hook := echoServer(t, &status, func(r *http.Request) string {
		return at190(" redirect to /login?next=", url.QueryEscape(hookToken))
	})
	hookURL := hook.URL + "/hook?token=" + url.QueryEscape(hookToken)

	slackURL = slack.URL + "/services/T0/B0/" + slackKey
	seen := runEchoed(t, &status, echoConfig(t, slackURL, hookURL))
	noSecretPart(t, seen, slackKey, hookToken)

	slackURL = slack.URL + "/services/T0/B0/" + slackKey + "?whole"
	seen = runEchoed(t, &status, echoConfig(t, slackURL, hookURL))
	noSecretPart(t, seen, slackKey, hookToken)
}

// A webhook URL with a user and password: the client sends them as basic
// auth, and a receiver that echoes the request's headers shows them
// base64. Neither they nor the password, raw or escaped, are shown.
func TestEchoedURLPasswordIsHidden(t *testing.T) {
	const (
		user = "bob"
		pass = "pa55:w0rd@Zq/9 x+K"
	)
	var status atomic.Int32
	hook := echoServer(t, &status, func(r *http.Request) string {
		var b strings.Builder
		// Authorization first: the answer is quoted cut to 200 characters.
		fmt.Fprintf(&b, "bad request; you sent: Authorization: %s; password %s (%s);",
			r.Header.Get("Authorization"), pass, url.QueryEscape(pass))
		for k, vs := range r.Header {
			if k != "Authorization" {
				fmt.Fprintf(&b, " %s: %s;", k, strings.Join(vs, ", "))
			}
		}
		return b.String()
	})
	slack := echoServer(t, &status, func(*http.Request) string { return "no_service" })
	u, err := url.Parse(hook.URL + "/hook")
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, pass)
	hookURL := u.String()

	seen := runEchoed(t, &status, echoConfig(t, slack.URL+"/services/T0/B0/SLACKKEY0123", hookURL))
	if !strings.Contains(seen, "Authorization: Basic <secret>") {
		t.Errorf("the echoed Authorization header is not quoted with its value hidden:\n%s", seen)
	}
	userPass := user + ":" + pass
	noSecretPart(t, seen, pass, userPass, u.User.String(),
		base64.StdEncoding.EncodeToString([]byte(userPass)),
		base64.RawURLEncoding.EncodeToString([]byte(userPass)))
	if strings.Contains(seen, hookURL) || strings.Contains(seen, user+":") {
		t.Errorf("the URL is shown with its user and password:\n%s", seen)
	}
}
