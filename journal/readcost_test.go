package journal

import (
	"testing"

	"github.com/coreos/go-systemd/v22/sdjournal"
)

// BenchmarkReadEntry is what reading one entry of a run costs: every field
// into a map (read, what systemd's messages need) against the time, text,
// priority and invocation only (readFields, what a run's lines need).
//
//	go test -run '^$' -bench ReadEntry -benchmem ./journal/
func BenchmarkReadEntry(b *testing.B) {
	dir := benchJournal(b, benchSizes[0].name, benchSizes[0].entries)
	for _, c := range []struct {
		name string
		read func(*sdjournal.Journal) (Entry, error)
	}{
		{"every_field", read},
		{"run_fields", func(sd *sdjournal.Journal) (Entry, error) { return readFields(sd, runFields) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			sd, err := sdjournal.NewJournalFromDir(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer sd.Close()
			if err := sd.AddMatch(fieldSystemdInvocationID + "=" + benchFailedRun); err != nil {
				b.Fatal(err)
			}
			entries := 0
			for b.Loop() {
				if err := sd.SeekTail(); err != nil {
					b.Fatal(err)
				}
				for {
					if n, err := sd.Previous(); err != nil || n == 0 {
						break
					}
					e, err := c.read(sd)
					if err != nil || e.Message == "" {
						b.Fatalf("read: %+v, %v", e, err)
					}
					entries++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(entries), "ns/entry")
		})
	}
}
