package analysis

import (
	"sort"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/report"
)

// loggedErrors counts the errors the run logged, fatal or not: every
// traceback's exception, and ERROR and CRITICAL records that came without
// one. They are what an admin reads after the cause.
func loggedErrors(es []entry, lines []report.Line, cs []chain, fatal *chain) []report.LoggedError {
	type key struct{ typ, msg string }
	idx := map[key]int{}
	var out []report.LoggedError
	add := func(typ, msg, ctx string, at time.Time, isFatal bool) {
		msg = oneLine(msg, 200)
		k := key{typ, msg}
		i, ok := idx[k]
		if !ok {
			if len(out) >= 4*report.MaxErrors {
				return
			}
			i = len(out)
			idx[k] = i
			out = append(out, report.LoggedError{Type: oneLine(typ, 120), Message: msg, Context: ctx, First: at})
		}
		e := &out[i]
		e.Count++
		if !at.IsZero() && (e.First.IsZero() || at.Before(e.First)) {
			e.First = at
		}
		if at.After(e.Last) {
			e.Last = at
		}
		e.Fatal = e.Fatal || isFatal
	}
	inChain := make(map[int]bool, len(cs))
	for k := range cs {
		c := &cs[k]
		last := c.blocks[len(c.blocks)-1].exc
		if c.record >= 0 {
			inChain[c.record] = true
		}
		if last.Type == "" {
			continue
		}
		at := c.start()
		ctx := ""
		if c.record >= 0 {
			at = c.record
			ctx = context(es[c.record])
		}
		add(last.Type, last.Message, ctx, entryTime(es[at], lines), c == fatal)
	}
	for i, e := range es {
		if !e.record || inChain[i] || (e.level != levelError && e.level != levelCritical) || e.text == "" {
			continue
		}
		add(e.logger, e.text, context(e), entryTime(e, lines), false)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Fatal != out[b].Fatal {
			return out[a].Fatal
		}
		if out[a].Count != out[b].Count {
			return out[a].Count > out[b].Count
		}
		return out[a].Last.After(out[b].Last)
	})
	if len(out) > report.MaxErrors {
		out = out[:report.MaxErrors]
	}
	return out
}

// context says what a record's traceback interrupted.
func context(e entry) string {
	switch {
	case strings.Contains(e.logger, "cron") || strings.Contains(e.text, "cron"):
		return "cron job"
	case strings.Contains(e.text, "rendering") || strings.Contains(e.logger, "report"):
		return "report"
	case e.logger == "werkzeug" || strings.HasSuffix(e.logger, ".http") || strings.Contains(e.text, "request"):
		return "request handling"
	case strings.Contains(e.logger, "mail"):
		return "mail"
	}
	return ""
}

// entryTime is the journal's time for the entry's line, else Odoo's own
// stamp (UTC, as Odoo logs).
func entryTime(e entry, lines []report.Line) time.Time {
	if int(e.line) < len(lines) {
		if t := lines[e.line].Time; !t.IsZero() {
			return t
		}
	}
	if e.stamp != "" {
		if t, err := time.Parse("2006-01-02 15:04:05", e.stamp); err == nil {
			return t
		}
	}
	return time.Time{}
}
