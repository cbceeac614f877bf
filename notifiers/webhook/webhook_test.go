package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
	"github.com/odoo-notify/odoo-notify/notifiers/webhook"
	"github.com/odoo-notify/odoo-notify/report"
)

// secret is a Standard Webhooks signing secret: "whsec_" and 32 bytes of
// base64, as `openssl rand -base64 32` makes.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7lvCrz1lHZs="

var now = time.Unix(1774500000, 0)

// answer is one reply of the receiver.
type answer struct {
	code       int
	body       string
	retryAfter string
}

// receiver records every request it gets and answers from a script, then 200.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	answers []answer
	got     []*http.Request
	bodies  [][]byte
}

func newReceiver(t testing.TB, answers ...answer) *receiver {
	rc := &receiver{answers: answers}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got, rc.bodies = append(rc.got, r), append(rc.bodies, body)
		a := answer{code: http.StatusOK}
		if len(rc.answers) > 0 {
			a, rc.answers = rc.answers[0], rc.answers[1:]
		}
		rc.mu.Unlock()
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.code)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() ([]*http.Request, [][]byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*http.Request(nil), rc.got...), append([][]byte(nil), rc.bodies...)
}

func newNotifier(t testing.TB, c config.Webhook, client *http.Client) *webhook.Notifier {
	t.Helper()
	n, err := webhook.New(c, client)
	if err != nil {
		t.Fatal(err)
	}
	webhook.SetNow(n, func() time.Time { return now })
	return n
}

func crashReport() *report.Report {
	t0 := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	return &report.Report{
		ID:           "6f1c0d2a9b7e4c3d8e5f6a7b8c9d0e1f-webhook-ops",
		Host:         "erp1",
		Unit:         "odoo.service",
		InvocationID: "6f1c0d2a9b7e4c3d8e5f6a7b8c9d0e1f",
		Result:       "signal",
		ExitCode:     "killed",
		ExitStatus:   "KILL",
		Summary:      "Odoo was killed.",
		Lines:        []report.Line{{Time: t0, Priority: 3, Message: "odoo: worker <!channel> & \"quoted\" died"}},
		Created:      t0,
	}
}

// verify checks a Standard Webhooks signature from the specification alone
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
// the key is the base64 after "whsec_"; the signed content is
// "<webhook-id>.<webhook-timestamp>.<body>"; webhook-signature holds
// space-separated "v1,<base64 HMAC-SHA256>"; the timestamp must be within
// five minutes of the receiver's clock.
func verify(whsec string, h http.Header, body []byte, at time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q is not unix seconds", ts)
	}
	if d := at.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s is %v away", ts, d)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte("."))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

func TestNotifyAnswers(t *testing.T) {
	tests := []struct {
		name      string
		answer    answer
		wantRetry bool
		wantErr   string
		wantAfter time.Duration
	}{
		{"200", answer{200, "", ""}, false, "", 0},
		{"204", answer{204, "", ""}, false, "", 0},
		{"202 with nonsense body", answer{202, "\xff\xfe<html>", ""}, false, "", 0},
		{"400", answer{400, `{"error":"bad schema"}`, ""}, false, `webhook: post: HTTP 400 Bad Request: {"error":"bad schema"}`, 0},
		{"401", answer{401, "unauthorized", ""}, false, "HTTP 401 Unauthorized: unauthorized", 0},
		{"404", answer{404, "", ""}, false, "HTTP 404 Not Found", 0},
		{"408", answer{408, "", ""}, true, "HTTP 408 Request Timeout", 0},
		{"410", answer{410, "gone", ""}, false, "HTTP 410 Gone: gone", 0},
		{"413", answer{413, "", ""}, false, "HTTP 413 Request Entity Too Large", 0},
		{"429 with Retry-After", answer{429, "slow down", "1"}, true, "HTTP 429 Too Many Requests: slow down", time.Second},
		{"500", answer{500, "boom", ""}, true, "HTTP 500 Internal Server Error: boom", 0},
		{"503 with an HTML page", answer{503, "<html>\n<body>\n  <h1>Service Unavailable</h1>\n" + strings.Repeat("x", 5000), ""}, true, "HTTP 503 Service Unavailable: <html> <body> <h1>Service Unavailable</h1>", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.answer)
			n := newNotifier(t, config.Webhook{URL: config.Secret(rc.URL + "/hook")}, rc.Client())
			retry, err := n.Notify(context.Background(), crashReport())
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v (err: %v)", retry, tt.wantRetry, err)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Notify() = %v, want delivered", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Notify() = %v, want an error containing %q", err, tt.wantErr)
			}
			if err != nil && len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long: the server's answer must be cut", len(err.Error()))
			}
			var ra *notifiers.RetryAfterError
			if tt.wantAfter > 0 && (!errors.As(err, &ra) || ra.After != tt.wantAfter) {
				t.Errorf("Retry-After: got %v, want %v", ra, tt.wantAfter)
			}
			if reqs, _ := rc.requests(); len(reqs) != 1 {
				t.Errorf("receiver got %d requests, want 1", len(reqs))
			}
		})
	}
}

// TestBody: the receiver gets the report's JSON contract, byte for byte, with
// the configured headers.
func TestBody(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, config.Webhook{
		URL:     config.Secret(rc.URL + "/hook?token=abc"),
		Headers: map[string]config.Secret{"Authorization": "Bearer tok-123456", "X-Env": "prod"},
	}, rc.Client())
	r := crashReport()
	if _, err := n.Notify(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	reqs, bodies := rc.requests()
	want, _ := r.JSON()
	if !bytes.Equal(bodies[0], want) {
		t.Errorf("body = %s\nwant r.JSON() = %s", bodies[0], want)
	}
	var got struct {
		Schema string                     `json:"schema"`
		Unit   string                     `json:"unit"`
		Lines  []struct{ Message string } `json:"lines"`
	}
	if err := json.Unmarshal(bodies[0], &got); err != nil {
		t.Fatal(err)
	}
	if got.Schema != report.Schema || got.Unit != "odoo.service" || got.Lines[0].Message != r.Lines[0].Message {
		t.Errorf("receiver read %+v", got)
	}
	h := reqs[0].Header
	for k, v := range map[string]string{"Content-Type": "application/json", "Authorization": "Bearer tok-123456", "X-Env": "prod", "User-Agent": "odoo-notify"} {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	if reqs[0].Method != http.MethodPost || reqs[0].URL.RequestURI() != "/hook?token=abc" {
		t.Errorf("request = %s %s, want POST /hook?token=abc", reqs[0].Method, reqs[0].URL.RequestURI())
	}
	if h.Get("webhook-signature") != "" {
		t.Error("signed without a secret")
	}
	if r.ID == "" || h.Get("webhook-id") != r.ID || h.Get("webhook-timestamp") == "" {
		t.Errorf("unsigned: webhook-id %q, timestamp %q; want the report's ID %q and a time", h.Get("webhook-id"), h.Get("webhook-timestamp"), r.ID)
	}
}

func TestSignature(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, config.Webhook{URL: config.Secret(rc.URL), Secret: secret}, rc.Client())
	r := crashReport()
	if _, err := n.Notify(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	reqs, bodies := rc.requests()
	h, body := reqs[0].Header, bodies[0]
	if h.Get("webhook-id") != r.ID {
		t.Errorf("webhook-id = %q, want the report's ID %q", h.Get("webhook-id"), r.ID)
	}
	if h.Get("webhook-timestamp") != "1774500000" {
		t.Errorf("webhook-timestamp = %q, want unix seconds 1774500000", h.Get("webhook-timestamp"))
	}

	tampered := func(f func(h http.Header, b []byte) (http.Header, []byte)) (http.Header, []byte) {
		return f(h.Clone(), bytes.Clone(body))
	}
	tests := []struct {
		name   string
		whsec  string
		header http.Header
		body   []byte
		at     time.Time
		ok     bool
	}{
		{"as sent", secret, h, body, now, true},
		{"as sent, received 4 minutes later", secret, h, body, now.Add(4 * time.Minute), true},
		{"replayed an hour later", secret, h, body, now.Add(time.Hour), false},
		{"wrong secret", "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of 32 bytes........")), h, body, now, false},
		{"tampered body", secret, h, bytes.Replace(body, []byte(`"odoo.service"`), []byte(`"nginx.service"`), 1), now, false},
		{"one byte appended", secret, h, append(bytes.Clone(body), ' '), now, false},
		{"tampered id", secret, func() http.Header {
			x, _ := tampered(func(h http.Header, b []byte) (http.Header, []byte) { h.Set("webhook-id", "msg_other"); return h, b })
			return x
		}(), body, now, false},
		{"tampered timestamp", secret, func() http.Header {
			x, _ := tampered(func(h http.Header, b []byte) (http.Header, []byte) {
				h.Set("webhook-timestamp", "1774500001")
				return h, b
			})
			return x
		}(), body, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verify(tt.whsec, tt.header, tt.body, tt.at)
			if (err == nil) != tt.ok {
				t.Errorf("verify() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestMessageID: without a report ID, the signed id is random but the same
// on every retry of one report, so a receiver can drop duplicates.
func TestMessageID(t *testing.T) {
	rc := newReceiver(t, answer{code: 500}, answer{code: 200}, answer{code: 200})
	n := newNotifier(t, config.Webhook{URL: config.Secret(rc.URL), Secret: secret}, rc.Client())
	r := crashReport()
	r.ID = ""
	n.Notify(context.Background(), r)
	n.Notify(context.Background(), r)
	other := crashReport()
	other.ID = ""
	n.Notify(context.Background(), other)
	reqs, bodies := rc.requests()
	ids := []string{reqs[0].Header.Get("webhook-id"), reqs[1].Header.Get("webhook-id"), reqs[2].Header.Get("webhook-id")}
	if !strings.HasPrefix(ids[0], "msg_") || len(ids[0]) < 20 {
		t.Errorf("webhook-id = %q, want a random msg_ id", ids[0])
	}
	if ids[0] != ids[1] {
		t.Errorf("a retry changed the id: %q then %q", ids[0], ids[1])
	}
	if ids[2] == ids[0] {
		t.Errorf("two reports share the id %q", ids[0])
	}
	for i := range reqs {
		if err := verify(secret, reqs[i].Header, bodies[i], now); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
}

// TestDispatchRetries: the receiver rate-limits, then fails, then takes the
// report; the dispatcher honours Retry-After, backs off, delivers on attempt
// 3, and every attempt carries a valid signature.
func TestDispatchRetries(t *testing.T) {
	rc := newReceiver(t, answer{429, "slow down", "1"}, answer{500, "boom", ""}, answer{200, "", ""})
	n := newNotifier(t, config.Webhook{URL: config.Secret(rc.URL), Secret: secret}, rc.Client())
	var waits []time.Duration
	d := &notifiers.Dispatcher{
		Policy: notifiers.Policy{Initial: 200 * time.Millisecond, Max: time.Second},
		Sleep: func(ctx context.Context, w time.Duration) error {
			waits = append(waits, w)
			return ctx.Err()
		},
	}
	res := d.Deliver(context.Background(), notifiers.Channel{Kind: "webhook", Name: "ops", Notifier: n, Timeout: time.Minute}, crashReport())
	if !res.OK() || res.Attempts != 3 {
		t.Fatalf("delivered=%v on attempt %d (%v), want delivered on attempt 3", res.OK(), res.Attempts, res.Err)
	}
	if len(waits) != 2 || waits[0] != time.Second || waits[1] < 400*time.Millisecond || waits[1] > 500*time.Millisecond {
		t.Errorf("waits = %v, want [1s (Retry-After) 400ms..500ms (backoff)]", waits)
	}
	reqs, bodies := rc.requests()
	for i := range reqs {
		if err := verify(secret, reqs[i].Header, bodies[i], now); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
}

// TestBadReport: a 10 MB line of invalid UTF-8 still gives a valid, signed
// JSON document.
func TestBadReport(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, config.Webhook{URL: config.Secret(rc.URL), Secret: secret}, rc.Client())
	r := crashReport()
	r.Lines = append(r.Lines, report.Line{Message: string(bytes.Repeat([]byte{0xff, 'a', 0xc3, 0x28, '<', '&'}, 10<<20/6))})
	if _, err := n.Notify(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	reqs, bodies := rc.requests()
	if !json.Valid(bodies[0]) || !utf8.Valid(bodies[0]) {
		t.Fatal("body is not valid UTF-8 JSON")
	}
	if err := verify(secret, reqs[0].Header, bodies[0], now); err != nil {
		t.Error(err)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		c    config.Webhook
		want string
	}{
		{"no url", config.Webhook{}, "webhook: no url: set url or url_file"},
		{"line break in a header", config.Webhook{URL: "https://h.example/x", Headers: map[string]config.Secret{"Authorization": "Bearer a\r\nX-Evil: 1"}}, "webhook: header Authorization: the value holds a line break"},
		{"signature header set by hand", config.Webhook{URL: "https://h.example/x", Headers: map[string]config.Secret{"Webhook-Signature": "v1,xyz"}}, "webhook: header Webhook-Signature: set by odoo-notify"},
		{"secret not base64", config.Webhook{URL: "https://h.example/x", Secret: "whsec_!!!notbase64"}, "webhook: webhook secret: not base64"},
		{"template that does not parse", config.Webhook{URL: "https://h.example/x", Template: `{"text": {{json .Subject}`}, "webhook: template: template: body:1: "},
		{"template with an unknown helper", config.Webhook{URL: "https://h.example/x", Template: `{{quote .Subject}}`}, `function "quote" not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.New(tt.c, http.DefaultClient)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() = %v, want %q", err, tt.want)
			}
			notifiertest.NoSecret(t, "Bearer a\r\nX-Evil: 1", err.Error())
			notifiertest.NoSecret(t, "!!!notbase64", err.Error())
		})
	}
}

// TestNoSecretLeaks forces every kind of failure, against a receiver that
// echoes everything it got, and checks that neither the URL's key, a header
// value nor the signing secret appears in any error or log line.
func TestNoSecretLeaks(t *testing.T) {
	const (
		urlKey = "URLSECRETxyz987"
		token  = "hdr-SECRET-123456"
	)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusNotFound
		if strings.HasPrefix(r.URL.Path, "/500") {
			code = http.StatusInternalServerError
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "Cannot %s %s; got Authorization=%s signature=%s", r.Method, r.URL, r.Header.Get("Authorization"), r.Header.Get("Webhook-Signature"))
	}))
	t.Cleanup(echo.Close)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshake is the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	path := "/hooks/" + urlKey + "?token=" + urlKey
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"connection refused", "http://" + closed + path, "connection refused"},
		{"404 echoing the request", echo.URL + path, "HTTP 404"},
		{"500 echoing the request", echo.URL + "/500" + path, "HTTP 500"},
		{"certificate not trusted", tlsSrv.URL + path, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log notifiertest.Log
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
			c := config.Webhook{
				URL:     config.Secret(tt.url),
				Headers: map[string]config.Secret{"Authorization": "Bearer " + token},
				Secret:  secret,
			}
			n := newNotifier(t, c, client)
			d := &notifiers.Dispatcher{
				Log:    log.Logger(),
				Policy: notifiers.Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 2},
				Sleep:  func(context.Context, time.Duration) error { return nil },
			}
			res := d.Dispatch(context.Background(), []notifiers.Channel{{Kind: "webhook", Name: "ops", Notifier: n}}, crashReport(), nil)
			err := notifiers.Join(res)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one saying %q", err, tt.want)
			}
			t.Log(err, "\n", log.String())
			seen := []string{err.Error(), log.String(), fmt.Sprintf("%v %+v", n, n)}
			for _, s := range []string{urlKey, token, secret, strings.TrimPrefix(secret, "whsec_")} {
				notifiertest.NoSecret(t, s, seen...)
			}
		})
	}
}

// TestTemplate: a template writes the body a service wants, every value
// escaped for JSON by the json helper, and the body is still signed.
func TestTemplate(t *testing.T) {
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	tests := []struct {
		name, template, contentType string
		wantErr                     string
		check                       func(t *testing.T, body []byte)
	}{
		{
			name:     "rocket.chat",
			template: `{"text": {{json .Subject}}, "attachments": [{"text": {{json (truncate 100 .Text)}}}], "lines": {{json .Lines}}, "n": {{len .Lines}}}`,
			check: func(t *testing.T, body []byte) {
				var m struct {
					Text        string
					Attachments []struct{ Text string }
					Lines       []report.Line
					N           int
				}
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatalf("body is not JSON: %v\n%s", err, body)
				}
				if m.Text != crashReport().Subject() || m.N != len(crashReport().Lines) || len(m.Lines) != m.N {
					t.Errorf("body = %+v", m)
				}
				if len(m.Attachments[0].Text) > 100 || !strings.HasSuffix(m.Attachments[0].Text, report.CutMark) {
					t.Errorf("truncate 100 gave %q", m.Attachments[0].Text)
				}
			},
		},
		{
			name:     "hostile log text stays inside its string",
			template: `{"last": {{json (oneline (index .Lines 0).Message)}}}`,
			check: func(t *testing.T, body []byte) {
				var m map[string]string
				if err := json.Unmarshal(body, &m); err != nil || len(m) != 1 {
					t.Fatalf("body %s: %v", body, err)
				}
			},
		},
		{
			name:        "plain text",
			template:    `{{.Subject}}`,
			contentType: "text/plain; charset=utf-8",
			check: func(t *testing.T, body []byte) {
				if string(body) != crashReport().Subject() {
					t.Errorf("body = %q", body)
				}
			},
		},
		{name: "not JSON", template: `{"text": "{{(index .Lines 0).Message}}"}`, wantErr: "webhook: template: the body is not valid JSON: write every value with json"},
		{name: "missing field", template: `{{json .Nope}}`, wantErr: "webhook: template: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			n := newNotifier(t, config.Webhook{URL: config.Secret(rc.URL + "/hook"), Template: tt.template, ContentType: tt.contentType, Secret: whsec}, rc.Client())
			rep := crashReport()
			rep.Lines[0].Message = `"}, "evil": true, {"` + "\n\u2028</script>"
			retry, err := n.Notify(context.Background(), rep)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || retry {
					t.Fatalf("Notify() = %v, %v; want a final error with %q", retry, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			reqs, bodies := rc.requests()
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			if got := reqs[0].Header.Get("Content-Type"); got != ct {
				t.Errorf("Content-Type = %q, want %q", got, ct)
			}
			if err := verify(whsec, reqs[0].Header, bodies[0], now); err != nil {
				t.Errorf("signature: %v", err)
			}
			tt.check(t, bodies[0])
		})
	}
}
