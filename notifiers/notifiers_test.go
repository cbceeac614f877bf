package notifiers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

// scripted answers each Notify with the next outcome of its script, and
// blocks on the context when the script says so: the retry policy is tested
// here, the transports in their own packages against real servers.
type scripted struct {
	mu      sync.Mutex
	answers []answer
	calls   int
}

type answer struct {
	retry bool
	err   error
	block bool // wait for the context to end
}

func (s *scripted) Notify(ctx context.Context, _ *report.Report) (bool, error) {
	s.mu.Lock()
	a := s.answers[min(s.calls, len(s.answers)-1)]
	s.calls++
	s.mu.Unlock()
	if a.block {
		<-ctx.Done()
		return true, ctx.Err()
	}
	return a.retry, a.err
}

type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func TestDeliverRetryPolicy(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:25: connection refused")
	denied := errors.New("535 authentication failed")
	tests := []struct {
		name         string
		answers      []answer
		wantAttempts int
		wantErr      string // "" for delivered
		wantRetry    bool
		wantWaits    []time.Duration // exact waits, when not backoff
	}{
		{name: "delivered at once", answers: []answer{{}}, wantAttempts: 1},
		{name: "transient then delivered", answers: []answer{{retry: true, err: refused}, {retry: true, err: refused}, {}}, wantAttempts: 3},
		{name: "permanent is not retried", answers: []answer{{err: denied}}, wantAttempts: 1, wantErr: "535 authentication failed"},
		{
			name:         "429 waits for Retry-After",
			answers:      []answer{{retry: true, err: &RetryAfterError{After: 7 * time.Second, Err: errors.New("HTTP 429")}}, {}},
			wantAttempts: 2, wantWaits: []time.Duration{7 * time.Second},
		},
		{name: "gives up after MaxAttempts", answers: []answer{{retry: true, err: refused}}, wantAttempts: 4, wantErr: "connection refused", wantRetry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &scripted{answers: tt.answers}
			sl := &sleeps{}
			d := Dispatcher{Policy: Policy{Initial: time.Second, Max: 4 * time.Second, MaxAttempts: 4}, Sleep: sl.sleep}
			res := d.Deliver(context.Background(), Channel{Kind: "email", Name: "ops", Notifier: n}, &report.Report{})
			if res.Attempts != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", res.Attempts, tt.wantAttempts)
			}
			switch {
			case tt.wantErr == "" && res.Err != nil:
				t.Errorf("not delivered: %v", res.Err)
			case tt.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr)):
				t.Errorf("error = %v, want it to say %q", res.Err, tt.wantErr)
			case tt.wantErr != "" && !strings.HasPrefix(Join([]Result{res}).Error(), "email ops: "):
				t.Errorf("Join(%q) does not name its channel", res.Err)
			}
			if res.Retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v", res.Retry, tt.wantRetry)
			}
			if tt.wantWaits != nil && !equal(sl.waits, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", sl.waits, tt.wantWaits)
			}
			for i := 1; i < len(sl.waits) && tt.wantWaits == nil; i++ {
				if sl.waits[i] < sl.waits[i-1] {
					t.Errorf("backoff shrank: %v", sl.waits)
				}
			}
		})
	}
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A channel that hangs hits its own timeout; the others deliver, and the
// hung channel's error is the last real one, not a bare deadline.
func TestDispatchOneSlowChannelDoesNotBlockOthers(t *testing.T) {
	slow := &scripted{answers: []answer{{retry: true, err: errors.New("HTTP 503 Service Unavailable")}, {block: true}}}
	fast := &scripted{answers: []answer{{}}}
	d := Dispatcher{Policy: Policy{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond}}
	chs := []Channel{
		{Kind: "webhook", Name: "slow", Notifier: slow, Timeout: 300 * time.Millisecond},
		{Kind: "slack", Name: "fast", Notifier: fast, Timeout: 300 * time.Millisecond},
	}
	start := time.Now()
	res := d.Dispatch(context.Background(), chs, &report.Report{}, nil)
	if !res[1].OK() {
		t.Errorf("fast channel: %v", res[1].Err)
	}
	if res[0].OK() || !strings.Contains(res[0].Err.Error(), "HTTP 503") {
		t.Errorf("slow channel error = %v, want the last real error (HTTP 503)", res[0].Err)
	}
	if !res[0].Retry {
		t.Error("a channel cut off by its timeout after a 503 must be retryable")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("dispatch took %v: the slow channel's timeout was not applied", el)
	}
	if err := Join(res); err == nil || !strings.Contains(err.Error(), "webhook slow: ") || strings.Contains(err.Error(), "fast") {
		t.Errorf("Join = %v, want only the failed channel, named", err)
	}
}

func TestDispatchGivesEachChannelItsReport(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	chs := []Channel{{Kind: "email", Name: "a"}, {Kind: "slack", Name: "b"}}
	for i := range chs {
		name := chs[i].Name
		chs[i].Notifier = notifyFunc(func(_ context.Context, r *report.Report) (bool, error) {
			mu.Lock()
			got[name] = r.ID
			mu.Unlock()
			return false, nil
		})
	}
	d := Dispatcher{}
	d.Dispatch(context.Background(), chs, &report.Report{}, func(c Channel) *report.Report {
		return &report.Report{ID: "id-" + c.Name}
	})
	if got["a"] != "id-a" || got["b"] != "id-b" {
		t.Errorf("per-channel reports: %v", got)
	}
}

type notifyFunc func(context.Context, *report.Report) (bool, error)

func (f notifyFunc) Notify(ctx context.Context, r *report.Report) (bool, error) { return f(ctx, r) }

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"30", 30 * time.Second},
		{"", 0},
		{"-3", 0},
		{"soon", 0},
		{"Wed, 25 Nov 2026 10:00:05 GMT", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ParseRetryAfter(tt.in, now); got != tt.want {
				t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for _, raw := range []string{"https://hooks.slack.com/services/T0/B0/SECRETXYZ", "https://user:SECRETXYZ@h.example.com/x?token=SECRETXYZ", "::SECRETXYZ"} {
		if got := RedactURL(raw); strings.Contains(got, "SECRETXYZ") {
			t.Errorf("RedactURL(%q) = %q shows the secret", raw, got)
		}
	}
}
