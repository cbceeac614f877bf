package outbox

import (
	"encoding/json"
	"errors"
	"io/fs"
	"time"
)

// ledgerName keeps the last delivery per unit and channel, for status.
const ledgerName = "delivered.json"

// Last is the last report a channel took for a unit.
type Last struct {
	At       time.Time `json:"at"`
	Event    string    `json:"event,omitempty"`
	ReportID string    `json:"report_id"`
	Subject  string    `json:"subject,omitempty"`
}

// Ledger is the last delivery per unit, then per channel.
type Ledger map[string]map[string]Last

// Delivered reads the ledger of reports that left the outbox, without
// locking.
func (s *Store) Delivered() Ledger {
	b, err := s.f.ReadFile(ledgerName)
	l := Ledger{}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("state: cannot read the last deliveries", "error", err)
		}
		return l
	}
	if err := json.Unmarshal(b, &l); err != nil {
		s.f.MoveAside(ledgerName, err)
		return Ledger{}
	}
	return l
}

// noteDelivered records e's deliveries in the ledger as e leaves the
// outbox; the caller holds the lock. Until then, Last reads them from e.
func (s *Store) noteDelivered(e *Entry) {
	l := s.Delivered()
	changed := false
	for _, d := range e.Channels {
		if d.Delivered.IsZero() {
			continue
		}
		l.note(e, d)
		changed = true
	}
	if !changed {
		return
	}
	b, err := json.Marshal(l)
	if err == nil {
		err = s.f.WriteFile(ledgerName, append(b, '\n'))
	}
	if err != nil {
		s.log.Warn("state: cannot record the last deliveries (status shows older ones)", "unit", e.Report.Unit, "error", err)
	}
}

// note keeps d if it is the unit's latest delivery on its channel.
func (l Ledger) note(e *Entry, d *Delivery) {
	u := e.Report.Unit
	if l[u] == nil {
		l[u] = map[string]Last{}
	}
	if old, ok := l[u][d.Channel]; ok && old.At.After(d.Delivered) {
		return
	}
	l[u][d.Channel] = Last{At: d.Delivered, Event: e.Report.Event, ReportID: d.ReportID, Subject: e.Report.Subject()}
}

// Last is the last delivery per unit and channel: the ledger, with the
// deliveries of pending, the reports still in the outbox (Pending).
func (s *Store) Last(pending []*Entry) Ledger {
	l := s.Delivered()
	for _, e := range pending {
		for _, d := range e.Channels {
			if !d.Delivered.IsZero() {
				l.note(e, d)
			}
		}
	}
	return l
}
