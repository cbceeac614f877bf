package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
)

// EntryVersion is the entry file's encoding version.
const EntryVersion = 1

// ErrVersion is an entry written by another version of odoo-notify.
var ErrVersion = errors.New("unknown outbox version")

// Entry is one report in the outbox and how far its delivery got on each
// channel.
type Entry struct {
	Version int            `json:"version"`
	ID      string         `json:"id"`
	Created time.Time      `json:"created"`
	Report  *report.Report `json:"report"`
	// Channels are the channels the report was meant for when it was put
	// in the outbox.
	Channels []*Delivery `json:"channels"`
	// After, on an incident's follow-up, is the entry of the report that
	// opened it: a channel gets the follow-up only once it got the opening.
	After string `json:"after,omitempty"`
}

// Delivery is one channel's part of an entry.
type Delivery struct {
	Channel string `json:"channel"`
	// ReportID is the report's id on this channel: the webhook-id and the
	// email Message-ID, the same on every redelivery.
	ReportID  string    `json:"report_id"`
	Delivered time.Time `json:"delivered,omitzero"`
	// Failed is the final error of a channel that refused the report for
	// good (it is not tried again).
	Failed    string `json:"failed,omitempty"`
	Attempts  int    `json:"attempts,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// LastTry is when the last attempt failed, for status.
	LastTry time.Time `json:"last_try,omitzero"`
	// ThreadID, on a follow-up, is the opening report's id on this channel.
	ThreadID string `json:"thread_id,omitempty"`
}

// Done says the channel needs nothing more.
func (d *Delivery) Done() bool { return !d.Delivered.IsZero() || d.Failed != "" }

// Done says every channel got the report or refused it for good.
func (e *Entry) Done() bool {
	for _, d := range e.Channels {
		if !d.Done() {
			return false
		}
	}
	return true
}

// runKey names the failed run a report is about: its invocation id, or, for
// a test report or a run whose id is unknown, its creation time.
func runKey(r *report.Report) string {
	switch {
	case r.Test:
		return "test:" + strconv.FormatInt(r.Created.UnixNano(), 10)
	case r.Refresh && r.Incident != nil:
		// One per incident and state: a refresh that waits is not
		// joined by another.
		return "refresh:" + r.Incident.State + ":" + r.Incident.ID
	case r.Event == report.EventResolved && r.Incident != nil:
		return "resolved:" + r.Incident.ID
	case r.Event == report.EventReminder && r.Incident != nil:
		return "reminder:" + r.Incident.ID + ":" + strconv.FormatInt(r.Created.UnixNano(), 10)
	case r.InvocationID != "" && r.Episode != "":
		return "run:" + r.InvocationID + "/" + r.Episode
	case r.InvocationID != "":
		return "run:" + r.InvocationID
	}
	return "created:" + strconv.FormatInt(r.Created.UnixNano(), 10)
}

// EntryID is the outbox id of r: the same failed run always has the same.
func EntryID(r *report.Report) string { return hashID(r.Unit, runKey(r)) }

// ReportID is r's id on channel: unit + failed run + channel, hashed. A
// receiver that sees it twice can drop the second copy.
func ReportID(r *report.Report, channel string) string {
	return hashID(r.Unit, runKey(r), channel)
}

// newEntry makes the outbox entry of r for channels.
func newEntry(r *report.Report, channels []notifiers.Channel, now time.Time) *Entry {
	e := &Entry{Version: EntryVersion, ID: EntryID(r), Created: now, Report: r}
	for _, ch := range channels {
		e.Channels = append(e.Channels, &Delivery{Channel: ch.Name, ReportID: ReportID(r, ch.Name)})
	}
	return e
}

// reportFor is the copy of the report a channel gets: its own ID and, on a
// follow-up, the id of the opening report on that channel to thread to.
func (e *Entry) reportFor(d *Delivery) *report.Report {
	r := *e.Report
	r.ID = d.ReportID
	if r.Incident != nil {
		in := *r.Incident
		in.ThreadID = d.ThreadID
		r.Incident = &in
	}
	return &r
}

func (e *Entry) delivery(channel string) *Delivery {
	for _, d := range e.Channels {
		if d.Channel == channel {
			return d
		}
	}
	return nil
}

// DecodeEntry reads an entry file. Anything that does not parse, lacks its
// report or is of another version is an error: the caller moves the file
// aside.
func DecodeEntry(b []byte) (*Entry, error) {
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("outbox: decode report: %w", err)
	}
	if probe.Version == nil || *probe.Version != EntryVersion {
		v := "none"
		if probe.Version != nil {
			v = strconv.Itoa(*probe.Version)
		}
		return nil, fmt.Errorf("outbox: decode report: version %s, want %d: %w", v, EntryVersion, ErrVersion)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("outbox: decode report: %w", err)
	}
	switch {
	case e.ID == "":
		return nil, errors.New("outbox: decode report: no id")
	case e.Report == nil:
		return nil, errors.New("outbox: decode report: no report")
	case e.Created.IsZero():
		return nil, errors.New("outbox: decode report: no creation time")
	}
	for i, d := range e.Channels {
		if d == nil || d.Channel == "" || d.ReportID == "" {
			return nil, fmt.Errorf("outbox: decode report: channel %d has no name or id", i)
		}
	}
	return &e, nil
}

// Encode writes e as JSON.
func (e *Entry) Encode() ([]byte, error) {
	e.Version = EntryVersion
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("outbox: encode report of %s: %w", e.Report.Unit, err)
	}
	return append(b, '\n'), nil
}
