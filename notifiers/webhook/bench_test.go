package webhook_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/report"
)

// BenchmarkNotify measures one signed delivery of a 50-line report to a
// local receiver, JSON encoding and HTTP included.
func BenchmarkNotify(b *testing.B) {
	rc := newReceiver(b)
	n := newNotifier(b, config.Webhook{URL: config.Secret(rc.URL), Secret: secret}, rc.Client())
	r := crashReport()
	for i := range 50 {
		r.Lines = append(r.Lines, report.Line{Message: fmt.Sprintf("2026-03-14 09:26:51,112 4242 INFO prod odoo.modules.loading: line %d", i)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Notify(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
