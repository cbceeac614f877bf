package outbox

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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

// Delivered reads the ledger without locking: for status.
func (s *Store) Delivered() Ledger {
	b, err := os.ReadFile(filepath.Join(s.dir, ledgerName))
	l := Ledger{}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("state: cannot read the last deliveries", "error", err)
		}
		return l
	}
	if err := json.Unmarshal(b, &l); err != nil {
		s.moveAside(filepath.Join(s.dir, ledgerName), err)
		return Ledger{}
	}
	return l
}

// noteDelivered records a delivery in the ledger; the caller holds the lock.
func (s *Store) noteDelivered(e *Entry, d *Delivery, at time.Time) {
	l := s.Delivered()
	u := e.Report.Unit
	if l[u] == nil {
		l[u] = map[string]Last{}
	}
	l[u][d.Channel] = Last{At: at, Event: e.Report.Event, ReportID: d.ReportID, Subject: e.Report.Subject()}
	b, err := json.Marshal(l)
	if err == nil {
		err = s.writeFile(filepath.Join(s.dir, ledgerName), append(b, '\n'))
	}
	if err != nil {
		s.log.Warn("state: cannot record the last delivery (status shows an older one)", "unit", u, "channel", d.Channel, "error", err)
	}
}
