package webhook

import "time"

// SetNow fixes the clock the signature's timestamp is read from.
func SetNow(n *Notifier, now func() time.Time) { n.now = now }
