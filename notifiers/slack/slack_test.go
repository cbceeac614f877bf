package slack_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
	slackch "github.com/odoo-notify/odoo-notify/notifiers/slack"
	"github.com/odoo-notify/odoo-notify/report"
)

// hookPath is the path of a Slack incoming webhook; its last segment is the
// key.
const hookPath = "/services/T000/B000/SECRETxyz"

// answer is one reply of the fake Slack, exactly as Slack sends it: a status,
// a bare text body and, for 429, Retry-After.
type answer struct {
	code       int
	body       string
	retryAfter string
}

var (
	ok              = answer{200, "ok", ""}
	invalidPayload  = answer{400, "invalid_payload", ""}
	actionForbidden = answer{403, "action_prohibited", ""}
	channelNotFound = answer{404, "channel_not_found", ""}
	channelArchived = answer{410, "channel_is_archived", ""}
	rateLimited     = answer{429, "rate_limited", "1"}
	rollupError     = answer{500, "rollup_error", ""}
)

// fakeSlack answers like hooks.slack.com and records every request.
type fakeSlack struct {
	*httptest.Server
	mu      sync.Mutex
	answers []answer
	got     []request
}

type request struct {
	method, path, contentType string
	body                      []byte
}

func newFakeSlack(t testing.TB, answers ...answer) *fakeSlack {
	f := &fakeSlack{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), body})
		a := ok
		if len(f.answers) > 0 {
			a, f.answers = f.answers[0], f.answers[1:]
		}
		f.mu.Unlock()
		if r.URL.Path != hookPath {
			a = answer{404, "no_service", ""}
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(a.code)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.got...)
}

func (f *fakeSlack) notifier() *slackch.Notifier {
	return slackch.New(config.Slack{Name: "ops", WebhookURL: config.Secret(f.URL + hookPath)}, f.Client())
}

// crashReport is an Odoo worker killed by the kernel's OOM killer, as the
// report package builds it.
func crashReport() *report.Report {
	t0 := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	return &report.Report{
		ID:           "6f1c0d2a9b7e4c3d8e5f6a7b8c9d0e1f-slack-ops",
		Host:         "erp1",
		Unit:         "odoo.service",
		InvocationID: "6f1c0d2a9b7e4c3d8e5f6a7b8c9d0e1f",
		Result:       "oom-kill",
		ExitCode:     "killed",
		ExitStatus:   "KILL",
		NRestarts:    2,
		StartedAt:    t0.Add(-time.Hour),
		ExitedAt:     t0,
		StateSource:  "monitor-env",
		Summary:      "The kernel killed Odoo for using too much memory.",
		Cause:        "oom-kill",
		Hints:        []string{"Lower workers or raise limit_memory_hard in odoo.conf."},
		Crashes: []report.Crash{
			{Time: t0.Add(-20 * time.Minute), InvocationID: "0a1b2c3d4e5f60718293a4b5c6d7e8f9", Result: "oom-kill", ExitCode: "killed", ExitStatus: "KILL"},
		},
		Held: &report.Held{Count: 3, Since: t0.Add(-30 * time.Minute), Results: []string{"oom-kill"}},
		Lines: []report.Line{
			{Time: t0.Add(-2 * time.Second), Priority: 6, Message: "2026-03-14 09:26:51,112 4242 INFO prod werkzeug: 10.0.0.7 - - \"POST /web/dataset/call_kw HTTP/1.1\" 200 -"},
			{Time: t0.Add(-time.Second), Priority: 4, Message: "2026-03-14 09:26:52,001 4242 WARNING prod odoo.service.server: Worker (4251) virtual memory limit reached"},
			{Time: t0, Priority: 3, Message: "Out of memory: Killed process 4251 (python3)"},
		},
		LogSource: "journal",
		Created:   t0.Add(time.Second),
	}
}

// texts returns every text object of a rendered message, in order.
func texts(m slack.WebhookMessage) []*slack.TextBlockObject {
	var out []*slack.TextBlockObject
	for _, b := range m.Blocks.BlockSet {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			out = append(out, b.Text)
		case *slack.SectionBlock:
			if b.Text != nil {
				out = append(out, b.Text)
			}
			out = append(out, b.Fields...)
		}
	}
	return out
}

// decode reads a posted body back as Slack would: it must be valid JSON of
// known block types.
func decode(t *testing.T, body []byte) slack.WebhookMessage {
	t.Helper()
	var m slack.WebhookMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("payload is not valid JSON for Slack: %v\n%.500s", err, body)
	}
	if m.Blocks == nil || len(m.Blocks.BlockSet) == 0 {
		t.Fatalf("payload has no blocks:\n%.500s", body)
	}
	return m
}

func TestNotifyAnswers(t *testing.T) {
	tests := []struct {
		name      string
		answer    answer
		wantRetry bool
		wantErr   string // "" means delivered
		wantAfter time.Duration
	}{
		{"ok", ok, false, "", 0},
		{"invalid payload", invalidPayload, false, "slack: post webhook: HTTP 400 Bad Request: invalid_payload: Slack could not read the message: report this as a bug in odoo-notify", 0},
		{"action prohibited", actionForbidden, false, "HTTP 403 Forbidden: action_prohibited: the workspace does not allow this webhook to post here", 0},
		{"channel not found", channelNotFound, false, "HTTP 404 Not Found: channel_not_found: the channel of this webhook no longer exists: make a new webhook and put its URL in webhook_url", 0},
		{"channel archived", channelArchived, false, "HTTP 410 Gone: channel_is_archived: the channel of this webhook is archived: unarchive it or make a new webhook", 0},
		{"rate limited", rateLimited, true, "HTTP 429 Too Many Requests: rate_limited: Slack allows about one message per second per webhook", time.Second},
		{"rate limited without Retry-After", answer{429, "rate_limited", ""}, true, "HTTP 429 Too Many Requests", 0},
		{"rollup error", rollupError, true, "HTTP 500 Internal Server Error: rollup_error: Slack had an internal error: the report is sent again", 0},
		{"unknown 404 page", answer{404, "<html><body>Not Found</body></html>", ""}, false, "Slack does not accept this webhook URL: check webhook_url", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeSlack(t, tt.answer)
			retry, err := srv.notifier().Notify(context.Background(), crashReport())
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v (err: %v)", retry, tt.wantRetry, err)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Notify() = %v, want delivered", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Notify() = %v, want an error containing %q", err, tt.wantErr)
			}
			var ra *notifiers.RetryAfterError
			if tt.wantAfter > 0 && (!errors.As(err, &ra) || ra.After != tt.wantAfter) {
				t.Errorf("Retry-After: got %v, want %v", ra, tt.wantAfter)
			}
			got := srv.requests()
			if len(got) != 1 {
				t.Fatalf("Slack got %d requests, want 1", len(got))
			}
			if got[0].method != http.MethodPost || got[0].path != hookPath || got[0].contentType != "application/json" {
				t.Errorf("Slack got %s %s (%s), want POST %s (application/json)", got[0].method, got[0].path, got[0].contentType, hookPath)
			}
			m := decode(t, got[0].body)
			if want := crashReport().Subject(); m.Text != want {
				t.Errorf("fallback text = %q, want the subject %q", m.Text, want)
			}
		})
	}
}

// TestDispatchRetries: Slack rate-limits, then fails, then takes the report;
// the dispatcher waits as Slack asked, backs off, and delivers on attempt 3.
func TestDispatchRetries(t *testing.T) {
	srv := newFakeSlack(t, rateLimited, rollupError, ok)
	var waits []time.Duration
	d := &notifiers.Dispatcher{
		Policy: notifiers.Policy{Initial: 200 * time.Millisecond, Max: time.Second},
		Sleep: func(ctx context.Context, w time.Duration) error {
			waits = append(waits, w)
			return ctx.Err()
		},
	}
	res := d.Deliver(context.Background(), notifiers.Channel{Kind: "slack", Name: "ops", Notifier: srv.notifier(), Timeout: time.Minute}, crashReport())
	if !res.OK() {
		t.Fatalf("not delivered: %v", res.Err)
	}
	if res.Attempts != 3 || len(srv.requests()) != 3 {
		t.Errorf("delivered on attempt %d after %d requests, want 3 and 3", res.Attempts, len(srv.requests()))
	}
	if len(waits) != 2 {
		t.Fatalf("waits = %v, want 2", waits)
	}
	if waits[0] != time.Second {
		t.Errorf("first wait = %v, want Slack's Retry-After: 1s", waits[0])
	}
	// The backoff doubles after each wait, the one Slack asked for included.
	if waits[1] < 400*time.Millisecond || waits[1] > 500*time.Millisecond {
		t.Errorf("second wait = %v, want the backoff 400ms..500ms after a 500", waits[1])
	}
	// Every attempt sent the same message.
	for i, r := range srv.requests()[1:] {
		if string(r.body) != string(srv.requests()[0].body) {
			t.Errorf("attempt %d sent a different payload", i+2)
		}
	}
}

// TestNoSecretLeaks forces every kind of failure and checks that the webhook
// key appears in no error and no log line.
func TestNoSecretLeaks(t *testing.T) {
	// A proxy in front of Slack that quotes the path back.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusNotFound
		if strings.Contains(r.URL.Path, "B500") {
			code = http.StatusInternalServerError
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "Cannot %s %s (url %s)", r.Method, r.URL.Path, "http://"+r.Host+r.URL.String())
	}))
	t.Cleanup(echo.Close)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshake is the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	closed := closedAddr(t)

	tests := []struct {
		name string
		url  string
		want string
	}{
		{"connection refused", "http://" + closed + hookPath, "connection refused"},
		{"404 quoting the path", echo.URL + hookPath, "HTTP 404"},
		{"500 quoting the path", echo.URL + "/services/T000/B500/SECRETxyz", "HTTP 500"},
		{"certificate not trusted", tlsSrv.URL + hookPath, "certificate"},
		{"invalid URL", "http://[::1" + hookPath, "bad URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log notifiertest.Log
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
			n := slackch.New(config.Slack{WebhookURL: config.Secret(tt.url)}, client)
			d := &notifiers.Dispatcher{
				Log:    log.Logger(),
				Policy: notifiers.Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 2},
				Sleep:  func(context.Context, time.Duration) error { return nil },
			}
			res := d.Dispatch(context.Background(), []notifiers.Channel{{Kind: "slack", Name: "ops", Notifier: n}}, crashReport(), nil)
			err := notifiers.Join(res)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one saying %q", err, tt.want)
			}
			t.Log(err, "\n", log.String())
			notifiertest.NoSecret(t, "SECRETxyz", err.Error(), log.String(), fmt.Sprintf("%v %+v", n, n))
			notifiertest.NoSecret(t, tt.url, err.Error(), log.String())
		})
	}
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
