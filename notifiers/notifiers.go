// Package notifiers fans a crash report out to every configured channel at
// once, each with its own deadline inside the run's, and retries what is
// transient. The channels themselves (email, slack, webhook) live in
// subpackages and implement Notifier.
package notifiers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

// Notifier delivers one report through one channel. It returns retry=true
// when the failure is transient (network error, 5xx, 429, SMTP 4xx) and the
// same report may be sent again; a *RetryAfterError asks for a given wait.
type Notifier interface {
	Notify(ctx context.Context, r *report.Report) (retry bool, err error)
}

// Channel is a named Notifier: "email", "ops-mail", "slack[0]". The name is
// what an admin sees in every log line and summary.
type Channel struct {
	Kind     string // email, slack, webhook
	Name     string
	Notifier Notifier
	// Timeout bounds this channel's delivery, retries included, inside the
	// run's deadline. Zero means the run's deadline alone.
	Timeout time.Duration
	// Rate (messages per second, 0 for no limit) and Burst are the
	// channel's token bucket, shared by every process on the host.
	Rate  float64
	Burst int
}

// String is "kind name" or the kind alone when the name is the kind.
func (c Channel) String() string {
	if c.Name == "" || c.Name == c.Kind {
		return c.Kind
	}
	return c.Kind + " " + c.Name
}

// RetryAfterError is a transient failure whose server said how long to wait
// (HTTP 429 Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Result is the outcome of one channel's delivery.
type Result struct {
	Channel Channel
	// Err is the channel's last error; Join tags it with the channel.
	Err      error
	Attempts int
	Duration time.Duration
	// Retry says the last failure was transient: the report may be
	// delivered later (it belongs in the outbox).
	Retry bool
}

// OK says whether the channel delivered the report.
func (r Result) OK() bool { return r.Err == nil }

// Policy is how a channel retries inside its deadline.
type Policy struct {
	// Initial and Max bound the exponential backoff between attempts.
	Initial, Max time.Duration
	// MaxAttempts bounds the attempts; 0 means until the deadline.
	MaxAttempts int
}

// DefaultPolicy backs off from 500 ms to 5 s.
var DefaultPolicy = Policy{Initial: 500 * time.Millisecond, Max: 5 * time.Second}

// Dispatcher delivers a report to channels.
type Dispatcher struct {
	Policy Policy
	Log    *slog.Logger
	// Sleep waits for d or until ctx ends; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (d *Dispatcher) sleep(ctx context.Context, wait time.Duration) error {
	if d.Sleep != nil {
		return d.Sleep(ctx, wait)
	}
	return Sleep(ctx, wait)
}

// Sleep waits for d, or until ctx ends and returns its error.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (d *Dispatcher) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Dispatch delivers r to every channel at once and returns one Result per
// channel, in the channels' order. reports, when not nil, gives each channel
// its own copy of the report (the outbox sets a per-channel ID); otherwise
// every channel gets r. One channel never waits for or undoes another.
func (d *Dispatcher) Dispatch(ctx context.Context, channels []Channel, r *report.Report, reports func(Channel) *report.Report) []Result {
	results := make([]Result, len(channels))
	var wg sync.WaitGroup
	for i, ch := range channels {
		rep := r
		if reports != nil {
			rep = reports(ch)
		}
		wg.Go(func() {
			results[i] = d.Deliver(ctx, ch, rep)
		})
	}
	wg.Wait()
	return results
}

// Deliver sends r through one channel, retrying transient failures with
// backoff (or the server's Retry-After) until the channel's timeout. The
// error kept is the last real one, never a bare "context deadline exceeded".
func (d *Dispatcher) Deliver(ctx context.Context, ch Channel, r *report.Report) Result {
	start := time.Now()
	if ch.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ch.Timeout)
		defer cancel()
	}
	log := d.log().With("channel", ch.String())
	p := d.Policy
	if p.Initial <= 0 {
		p = DefaultPolicy
	}
	backoff := p.Initial
	res := Result{Channel: ch}
	var lastMsg string
	for {
		res.Attempts++
		retry, err := ch.Notifier.Notify(ctx, r)
		if err == nil {
			res.Err, res.Retry = nil, false
			break
		}
		if res.Err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// The deadline cut this attempt short: keep the earlier,
			// more telling error.
			break
		}
		res.Err, res.Retry = err, retry
		if !retry {
			break
		}
		if p.MaxAttempts > 0 && res.Attempts >= p.MaxAttempts {
			break
		}
		wait := backoff + rand.N(backoff/4+1)
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.After > 0 {
			wait = ra.After
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			log.Warn("giving up before the deadline", "attempt", res.Attempts, "error", err)
			break
		}
		if msg := err.Error(); msg != lastMsg {
			log.Warn("delivery failed, retrying", "attempt", res.Attempts, "wait", wait.Round(time.Millisecond), "error", err)
			lastMsg = msg
		}
		if d.sleep(ctx, wait) != nil {
			break
		}
		backoff = min(backoff*2, p.Max)
	}
	res.Duration = time.Since(start)
	return res
}

// Join returns every failed channel's error, each tagged with its channel,
// or nil when all delivered.
func Join(results []Result) error {
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Channel, r.Err))
		}
	}
	return errors.Join(errs...)
}
