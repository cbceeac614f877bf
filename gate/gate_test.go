package gate

import (
	"errors"
	"testing"
	"time"
)

var (
	t0     = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	limits = Limits{DedupWindow: 10 * time.Minute, MaxReports: 5, Per: time.Hour}
)

func fail(unit, inv, result, status string) Failure {
	code := "exited"
	if result == "signal" {
		code = "killed"
	}
	return Failure{Unit: unit, InvocationID: inv, Result: result, ExitCode: code, ExitStatus: status}
}

func TestDecide(t *testing.T) {
	type step struct {
		at   time.Duration
		f    Failure
		want Verdict
		held int // Held.Count on a Send
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first failure goes out", []step{
			{0, fail("odoo.service", "a1", "exit-code", "3"), Send, 0},
		}},
		{"the handler running twice for one run sends once", []step{
			{0, fail("odoo.service", "a1", "exit-code", "3"), Send, 0},
			{time.Second, fail("odoo.service", "a1", "exit-code", "3"), Duplicate, 0},
			{time.Hour * 3, fail("odoo.service", "a1", "exit-code", "3"), Duplicate, 0},
		}},
		{"same failure within the window is counted, then reported with the next", []step{
			{0, fail("odoo.service", "a1", "exit-code", "3"), Send, 0},
			{time.Minute, fail("odoo.service", "a2", "exit-code", "3"), Repeat, 0},
			{2 * time.Minute, fail("odoo.service", "a3", "exit-code", "3"), Repeat, 0},
			{3 * time.Minute, fail("odoo.service", "a4", "signal", "KILL"), Send, 2},
		}},
		{"same failure after the window goes out", []step{
			{0, fail("odoo.service", "a1", "exit-code", "3"), Send, 0},
			{10 * time.Minute, fail("odoo.service", "a2", "exit-code", "3"), Send, 0},
		}},
		{"other units are independent", []step{
			{0, fail("odoo.service", "a1", "exit-code", "3"), Send, 0},
			{time.Second, fail("odoo-2.service", "b1", "exit-code", "3"), Send, 0},
		}},
		{"at most max_reports per hour per unit", []step{
			{0, fail("odoo.service", "a1", "exit-code", "1"), Send, 0},
			{1 * time.Minute, fail("odoo.service", "a2", "exit-code", "2"), Send, 0},
			{2 * time.Minute, fail("odoo.service", "a3", "exit-code", "3"), Send, 0},
			{3 * time.Minute, fail("odoo.service", "a4", "exit-code", "4"), Send, 0},
			{4 * time.Minute, fail("odoo.service", "a5", "exit-code", "5"), Send, 0},
			{5 * time.Minute, fail("odoo.service", "a6", "exit-code", "6"), Limited, 0},
			{59 * time.Minute, fail("odoo.service", "a7", "exit-code", "7"), Limited, 0},
			{60 * time.Minute, fail("odoo.service", "a8", "exit-code", "8"), Send, 2},
		}},
		{"no invocation id: every run counts", []step{
			{0, fail("odoo.service", "", "exit-code", "3"), Send, 0},
			{time.Second, fail("odoo.service", "", "exit-code", "3"), Repeat, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			for i, st := range tt.steps {
				d := s.Decide(st.f, limits, t0.Add(st.at))
				if d.Verdict != st.want {
					t.Fatalf("step %d (%s at +%s): verdict %s, want %s", i, st.f.InvocationID, st.at, d.Verdict, st.want)
				}
				got := 0
				if d.Held != nil {
					got = d.Held.Count
				}
				if got != st.held {
					t.Fatalf("step %d: held count %d, want %d", i, got, st.held)
				}
			}
		})
	}
}

func TestHeldSaysWhatAndSince(t *testing.T) {
	s := New()
	s.Decide(fail("odoo.service", "a1", "exit-code", "3"), limits, t0)
	s.Decide(fail("odoo.service", "a2", "exit-code", "3"), limits, t0.Add(time.Minute))
	s.Decide(fail("odoo.service", "a3", "exit-code", "3"), limits, t0.Add(2*time.Minute))
	d := s.Decide(fail("odoo.service", "a4", "watchdog", ""), limits, t0.Add(3*time.Minute))
	if d.Verdict != Send || d.Held == nil {
		t.Fatalf("decision %+v, want a send carrying what was held", d)
	}
	if d.Held.Count != 2 || !d.Held.Since.Equal(t0.Add(time.Minute)) {
		t.Errorf("held %d since %s, want 2 since %s", d.Held.Count, d.Held.Since, t0.Add(time.Minute))
	}
	if len(d.Held.Results) != 1 || d.Held.Results[0] != "exit-code (status 3)" {
		t.Errorf("held results %q, want [exit-code (status 3)]", d.Held.Results)
	}
	// Once carried, it is not carried again.
	d = s.Decide(fail("odoo.service", "a5", "signal", "KILL"), limits, t0.Add(4*time.Minute))
	if d.Held != nil {
		t.Errorf("held %+v carried twice", d.Held)
	}
}

func TestDigests(t *testing.T) {
	tests := []struct {
		name  string
		at    time.Duration
		count int
	}{
		{"not while the window lasts", 9 * time.Minute, 0},
		{"when the window ends with nothing sent", 10 * time.Minute, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			s.Decide(fail("odoo.service", "a1", "exit-code", "3"), limits, t0)
			s.Decide(fail("odoo.service", "a2", "exit-code", "3"), limits, t0.Add(time.Minute))
			s.Decide(fail("odoo.service", "a3", "exit-code", "3"), limits, t0.Add(2*time.Minute))
			ds := s.Digests(limits, t0.Add(tt.at))
			if len(ds) != tt.count {
				t.Fatalf("%d digests, want %d", len(ds), tt.count)
			}
			if tt.count == 0 {
				return
			}
			d := ds[0]
			if d.Unit != "odoo.service" || d.Held.Count != 2 || d.Last.InvocationID != "a3" || d.Last.Result != "exit-code" {
				t.Errorf("digest %+v, want 2 held of odoo.service, last a3 exit-code", d)
			}
			if again := s.Digests(limits, t0.Add(tt.at+time.Hour)); len(again) != 0 {
				t.Errorf("digest sent twice: %+v", again)
			}
		})
	}
}

func TestReserve(t *testing.T) {
	slack := Rate{PerSecond: 1, Burst: 3}
	tests := []struct {
		name    string
		at      []time.Duration // one reservation at each offset
		maxWait time.Duration
		want    []time.Duration // wait; -1 for not reserved
	}{
		{"burst goes at once, then one a second", []time.Duration{0, 0, 0, 0, 0}, time.Minute,
			[]time.Duration{0, 0, 0, time.Second, 2 * time.Second}},
		{"refills over time", []time.Duration{0, 0, 0, 2 * time.Second}, time.Minute,
			[]time.Duration{0, 0, 0, 0}},
		{"a wait past maxWait is not reserved", []time.Duration{0, 0, 0, 0, 0}, 1500 * time.Millisecond,
			[]time.Duration{0, 0, 0, time.Second, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			for i, at := range tt.at {
				wait, ok := s.Reserve("slack", slack, t0.Add(at), tt.maxWait)
				if !ok {
					wait = -1
				}
				if d := wait - tt.want[i]; d > time.Millisecond || d < -time.Millisecond {
					t.Errorf("reservation %d: wait %s, want %s", i, wait, tt.want[i])
				}
			}
		})
	}
	t.Run("unlimited", func(t *testing.T) {
		s := New()
		for range 100 {
			if w, ok := s.Reserve("email", Rate{}, t0, 0); !ok || w != 0 {
				t.Fatalf("unlimited channel waits %s", w)
			}
		}
	})
	t.Run("refund", func(t *testing.T) {
		s := New()
		for range 3 {
			s.Reserve("slack", slack, t0, 0)
		}
		s.Refund("slack", slack, t0)
		if w, ok := s.Reserve("slack", slack, t0, 0); !ok || w != 0 {
			t.Errorf("after a refund: wait %s ok %v, want a token at once", w, ok)
		}
	})
}

func TestPrune(t *testing.T) {
	s := New()
	s.Decide(fail("odoo.service", "a1", "exit-code", "3"), limits, t0)
	s.Reserve("slack", Rate{PerSecond: 1, Burst: 3}, t0, 0)
	s.Prune(limits, 24*time.Hour, t0.Add(25*time.Hour), map[string]Rate{"slack": {PerSecond: 1, Burst: 3}})
	if len(s.Units) != 0 || len(s.Buckets) != 0 {
		t.Errorf("after a day: %d units, %d buckets left, want none", len(s.Units), len(s.Buckets))
	}
}

func TestDecode(t *testing.T) {
	s := New()
	s.Decide(fail("odoo.service", "a1", "exit-code", "3"), limits, t0)
	good, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		wantErr error
		ok      bool
	}{
		{"round trip", string(good), nil, true},
		{"truncated", string(good[:len(good)/2]), nil, false},
		{"empty", "", nil, false},
		{"not json", "\x00\x01garbage", nil, false},
		{"future version", `{"version":2,"units":{}}`, ErrVersion, false},
		{"no version", `{"units":{}}`, ErrVersion, false},
		{"null unit", `{"version":1,"units":{"odoo.service":null}}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if tt.ok {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				// A decoded state takes decisions.
				got.Decide(fail("odoo.service", "a9", "signal", "KILL"), limits, t0.Add(time.Hour))
				return
			}
			if err == nil {
				t.Fatal("decoded a bad file without error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	s := New()
	s.Decide(fail("odoo.service", "a1", "exit-code", "3"), limits, t0)
	s.Decide(fail("odoo.service", "a2", "exit-code", "3"), limits, t0.Add(time.Minute))
	s.Reserve("slack", Rate{PerSecond: 1, Burst: 3}, t0, 0)
	good, _ := s.Encode()
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"units":{"x":{"held":{"count":-1}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must take decisions without panicking.
		now := t0.Add(2 * time.Hour)
		s.Decide(fail("x", "i", "exit-code", "1"), limits, now)
		s.Digests(limits, now)
		s.Reserve("slack", Rate{PerSecond: 1, Burst: 3}, now, time.Second)
		s.Prune(limits, time.Hour, now, nil)
		if _, err := s.Encode(); err != nil {
			t.Fatalf("encode after decode: %v", err)
		}
	})
}

// A rate too small for a Duration still limits: the wait does not overflow
// into a negative one that sends everything.
func TestReserveTinyRateStillLimits(t *testing.T) {
	s := New()
	r := Rate{PerSecond: 1e-20, Burst: 1}
	now := time.Now()
	if _, ok := s.Reserve("c", r, now, time.Minute); !ok {
		t.Fatal("the first message within the burst was refused")
	}
	if wait, ok := s.Reserve("c", r, now, time.Minute); ok || wait <= 0 {
		t.Errorf("second message: wait %v ok %v, want refused with a positive wait", wait, ok)
	}
}
