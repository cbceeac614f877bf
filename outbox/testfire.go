package outbox

import (
	"context"

	"github.com/odoo-notify/odoo-notify/gate"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
)

// TestFire delivers a test report straight to the channels: it passes no
// gate, is never saved in the outbox (a failed test must not be sent later,
// after the admin fixed the config and tried again), and sends nothing that
// waits there, so that each channel's result is this test's own.
func (s *Sender) TestFire(ctx context.Context, rep *report.Report) Outcome {
	results := s.Dispatcher.Dispatch(ctx, s.Channels, rep, func(ch notifiers.Channel) *report.Report {
		r := *rep
		r.ID = ReportID(rep, ch.Name)
		return &r
	})
	out := Outcome{Verdict: gate.Send, Own: results}
	if s.Store != nil {
		out.Waiting = len(s.Store.Pending())
	}
	return out
}
