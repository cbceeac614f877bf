package analysis

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/odoo-notify/odoo-notify/report"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// Redacted replaces every secret found in a report's text.
const Redacted = "<redacted>"

// rule keeps the part of a match before the secret (group 1) and replaces
// the rest.
type rule struct {
	re *lazyre.Regexp
	// hint lists lowercase substrings ("a|b"), one of which every match
	// holds, so most lines cost a strings.Contains and no regexp.
	hint string
	// repl replaces a match; "" means group 1 followed by <redacted>.
	repl string
}

// builtin are the secrets an Odoo log is known to carry: odoo.conf keys
// printed by a config dump or a traceback's locals, passwords in URLs and
// libpq DSNs, session ids, Authorization headers and bearer tokens.
var builtin = []rule{
	{lazyre.New(`(?i)(\b\w*(?:passw(?:or)?d|pwd|secret|api_?key|token)['"]?\s*[:=]\s*)(?:"[^"]*"|'[^']*'|[^\s,;&}\])]+)`), "passw|pwd|secret|key|token", ""},
	{lazyre.New(`(?i)((?:session_id|sid)['"]?\s*[:=]\s*['"]?)[^\s;,'"&]+`), "sid|session_id", ""},
	{lazyre.New(`(?i)(authorization['"]?\s*[:=]\s*['"]?)[^'"\r\n]+`), "authorization", ""},
	{lazyre.New(`(?i)(\bbearer\s+)[A-Za-z0-9\-._~+/]+=*`), "bearer", ""},
	// scheme://user:password@host
	{lazyre.New(`([a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+@`), "://", "${1}" + Redacted + "@"},
	// Slack and other webhook URLs are secrets themselves.
	{lazyre.New(`(https://hooks\.slack\.com/)\S+`), "hooks.slack.com", ""},
}

// redactWords holds every rule's hint words, found in any case;
// builtinMasks are each rule's.
var (
	redactWords  *words
	builtinMasks []uint64
)

func init() {
	var list []string
	for i := range builtin {
		builtinMasks = append(builtinMasks, mask(&list, builtin[i].hint))
		if builtin[i].repl == "" {
			builtin[i].repl = "${1}" + Redacted
		}
	}
	redactWords = newWords(list, true)
}

// Redactor removes secrets from report text before it leaves the host.
type Redactor struct {
	extra []*regexp.Regexp
}

// NewRedactor builds a Redactor with the built-in patterns and extra regular
// expressions (config's redact list) whose whole match is replaced.
func NewRedactor(extra []string) (*Redactor, error) {
	x := &Redactor{}
	for i, p := range extra {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redact: pattern %d (%q): %w: fix or remove it in redact", i+1, p, err)
		}
		x.extra = append(x.extra, re)
	}
	return x, nil
}

// Redact returns s with every secret replaced by <redacted>.
func (x *Redactor) Redact(s string) string {
	if s == "" {
		return s
	}
	found, ok := redactWords.find(s)
	if !ok {
		// The Kelvin sign or İ: Unicode's lowercase decides, as before.
		lower := strings.ToLower(s)
		for i, r := range builtin {
			if containsAny(lower, r.hint) {
				found |= builtinMasks[i]
			}
		}
	}
	for i, r := range builtin {
		if found&builtinMasks[i] != 0 {
			s = r.re.ReplaceAllString(s, r.repl)
		}
	}
	if x != nil {
		for _, re := range x.extra {
			s = re.ReplaceAllLiteralString(s, Redacted)
		}
	}
	return s
}

// containsAny says whether s holds one of the "|"-separated alts.
func containsAny(s, alts string) bool {
	for alts != "" {
		a, rest, _ := strings.Cut(alts, "|")
		if strings.Contains(s, a) {
			return true
		}
		alts = rest
	}
	return false
}

// Report returns a copy of r with its text redacted: lines, exception,
// summary, hints, errors and problems, and what a hang or a degraded
// report holds of the watcher's (probe bodies, busy threads' URLs and
// code, the spell's summary and example lines). r is left as it was: a report
// shared with another stage does not change under it.
func (x *Redactor) Report(r *report.Report) *report.Report {
	c := r.Clone()
	for i := range c.Lines {
		c.Lines[i].Message = x.Redact(c.Lines[i].Message)
	}
	if e := c.Exception; e != nil {
		e.Type = x.Redact(e.Type)
		e.Message = x.Redact(e.Message)
		e.Traceback = x.Redact(e.Traceback)
		e.Frame = x.Redact(e.Frame)
	}
	c.Summary = x.Redact(c.Summary)
	for i := range c.Hints {
		c.Hints[i] = x.Redact(c.Hints[i])
	}
	for i := range c.Errors {
		c.Errors[i].Type = x.Redact(c.Errors[i].Type)
		c.Errors[i].Message = x.Redact(c.Errors[i].Message)
	}
	c.LinesProblem = x.Redact(c.LinesProblem)
	for i := range c.Problems {
		c.Problems[i] = x.Redact(c.Problems[i])
	}
	if h := c.Hang; h != nil {
		h.URL, h.DumpProblem = x.Redact(h.URL), x.Redact(h.DumpProblem)
		for i := range h.Probes {
			h.Probes[i].Error, h.Probes[i].Body = x.Redact(h.Probes[i].Error), x.Redact(h.Probes[i].Body)
		}
		for i := range h.Done {
			h.Done[i] = x.Redact(h.Done[i])
		}
		for i := range h.Threads {
			th := &h.Threads[i]
			th.Thread, th.URL = x.Redact(th.Thread), x.Redact(th.URL)
			for j := range th.Frames {
				th.Frames[j].Code = x.Redact(th.Frames[j].Code)
			}
		}
	}
	if d := c.Degraded; d != nil {
		d.Summary, d.LastRequest, d.New = x.Redact(d.Summary), x.Redact(d.LastRequest), x.Redact(d.New)
		for i := range d.Examples {
			d.Examples[i] = x.Redact(d.Examples[i])
		}
	}
	return c
}
