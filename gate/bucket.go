package gate

import (
	"math"
	"time"
)

// Rate is a channel's token bucket: PerSecond messages a second on average,
// Burst at once. A zero Rate is unlimited.
type Rate struct {
	PerSecond float64
	Burst     int
}

func (r Rate) unlimited() bool { return r.PerSecond <= 0 }

// Bucket is one channel's tokens at a moment. Tokens may be negative: each
// process reserves a token and waits for its turn outside the lock.
type Bucket struct {
	Tokens float64   `json:"tokens"`
	At     time.Time `json:"at"`
}

// level is the tokens in b at now, refilled at r and capped at the burst.
func (b *Bucket) level(r Rate, now time.Time) float64 {
	dt := now.Sub(b.At).Seconds()
	if dt < 0 {
		dt = 0 // the clock went back: refill nothing rather than misread
	}
	return math.Min(float64(r.Burst), b.Tokens+dt*r.PerSecond)
}

// Reserve takes one token of channel's bucket and says how long to wait
// before sending. When the wait would exceed maxWait nothing is taken and
// ok is false: the report stays in the outbox for a later run.
func (s *State) Reserve(channel string, r Rate, now time.Time, maxWait time.Duration) (wait time.Duration, ok bool) {
	if r.unlimited() {
		return 0, true
	}
	if s.Buckets == nil {
		s.Buckets = map[string]*Bucket{}
	}
	b := s.Buckets[channel]
	if b == nil {
		b = &Bucket{Tokens: float64(max(r.Burst, 1)), At: now}
		s.Buckets[channel] = b
	}
	level := b.level(r, now)
	if level < 1 {
		// In float seconds first: a tiny rate would overflow a Duration
		// into a negative wait and turn the limit off.
		secs := (1 - level) / r.PerSecond
		if secs > maxWait.Seconds() {
			b.Tokens, b.At = level, now
			if secs >= time.Duration(math.MaxInt64).Seconds() {
				return time.Duration(math.MaxInt64), false
			}
			return time.Duration(secs * float64(time.Second)), false
		}
		wait = time.Duration(secs * float64(time.Second))
	}
	if wait > maxWait {
		b.Tokens, b.At = level, now
		return wait, false
	}
	b.Tokens, b.At = level-1, now
	return wait, true
}

// Refund gives back a token reserved for a send that did not happen.
func (s *State) Refund(channel string, r Rate, now time.Time) {
	b := s.Buckets[channel]
	if r.unlimited() || b == nil {
		return
	}
	b.Tokens, b.At = math.Min(float64(r.Burst), b.level(r, now)+1), now
}
