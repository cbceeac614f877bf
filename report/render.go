package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// MaxLineBytes bounds one log line in the text, HTML and chat renderings; a
// 10 MB line is cut here, with CutMark, and the report still goes out.
const MaxLineBytes = 4096

// MaxJSONLineBytes bounds one log line in the JSON rendering, so a webhook
// body stays well under the 1 MB many receivers accept.
const MaxJSONLineBytes = 16 << 10

// JSON renders the report as the versioned JSON contract (README, "Report
// JSON"). encoding/json replaces invalid UTF-8 with U+FFFD, so a line of
// binary junk still gives a valid document.
func (r *Report) JSON() ([]byte, error) {
	type wire struct {
		Schema string `json:"schema"`
		// Subject is the mail subject (an update's is its opening's);
		// Title says what this report is about.
		Subject string `json:"subject"`
		Title   string `json:"title"`
		*Report
	}
	out := *r
	if out.Event == "" {
		out.Event = EventFiring
		if out.Test {
			out.Event = EventTest
		}
	}
	out.Lines = make([]Line, len(r.Lines))
	for i, l := range r.Lines {
		l.Message = Truncate(l.Message, MaxJSONLineBytes)
		out.Lines[i] = l
	}
	b, err := json.Marshal(wire{Schema: Schema, Subject: out.Subject(), Title: out.Title(), Report: &out})
	if err != nil {
		return nil, fmt.Errorf("report: encode json: %w", err)
	}
	return b, nil
}

// Facts lists the labelled facts every rendering shows, in order, leaving out
// what is not known.
func (r *Report) Facts() [][2]string {
	var f [][2]string
	add := func(k, v string) {
		if v != "" {
			f = append(f, [2]string{k, OneLine(v)})
		}
	}
	add("Host", r.Host)
	add("Unit", r.Unit)
	add("Cause", r.Cause)
	add("Result", r.Result)
	if r.ExitCode != "" || r.ExitStatus != "" {
		add("Exit", strings.TrimSpace(r.ExitCode+" "+r.ExitStatus))
	}
	if r.NRestarts > 0 {
		add("Restarts", fmt.Sprint(r.NRestarts))
	}
	add("Invocation", r.InvocationID)
	if !r.StartedAt.IsZero() {
		add("Started", r.StartedAt.UTC().Format(time.RFC3339))
	}
	if !r.ExitedAt.IsZero() {
		add("Exited", r.ExitedAt.UTC().Format(time.RFC3339))
	}
	add("Log", r.LogSource)
	if in := r.Incident; in != nil {
		v := fmt.Sprintf("%s, %s since %s, %d failure(s)", in.ID, in.State, in.Opened.UTC().Format(time.RFC3339), in.Failures)
		if in.Causes != "" {
			v += " (" + in.Causes + ")"
		}
		add("Incident", v)
	}
	return f
}

// HeldText says what was held back since the last report, or "".
func (r *Report) HeldText() string {
	if r.Held == nil || r.Held.Count == 0 {
		return ""
	}
	s := fmt.Sprintf("%d more failure(s) of %s held back since %s", r.Held.Count, r.Unit, r.Held.Since.UTC().Format(time.RFC3339))
	if len(r.Held.Results) > 0 {
		s += " (" + strings.Join(r.Held.Results, ", ") + ")"
	}
	return s
}

// CrashLine renders one earlier crash on one line.
func (c Crash) String() string {
	s := c.Time.UTC().Format(time.RFC3339) + " " + c.Result
	if c.ExitCode != "" || c.ExitStatus != "" {
		s += " (" + strings.TrimSpace(c.ExitCode+" "+c.ExitStatus) + ")"
	}
	if c.Cause != "" && c.Cause != c.Result {
		s += " " + c.Cause
	}
	if c.InvocationID != "" {
		s += " " + c.InvocationID
	}
	return s
}

// FormatLine renders a log line as "15:04:05 message", cut to MaxLineBytes.
func FormatLine(l Line) string {
	t := ""
	if !l.Time.IsZero() {
		t = l.Time.UTC().Format("2006-01-02 15:04:05") + " "
	}
	return t + Truncate(ValidUTF8(strings.TrimRight(l.Message, "\r\n")), MaxLineBytes)
}

// Text renders the report as plain text for a mail body or a journal line.
func (r *Report) Text() string {
	var b strings.Builder
	b.WriteString(r.Subject() + "\n\n")
	if f := r.Fresh(); f != "" {
		b.WriteString("New since the last notice: " + ValidUTF8(f) + "\n\n")
	} else if t := r.Title(); t != r.Subject() {
		b.WriteString("This failure: " + strings.TrimPrefix(t, "[UPDATE] ") + "\n\n")
	}
	if r.Test {
		b.WriteString("This is a test sent by `odoo-notify test`: nothing failed.\n\n")
	}
	if r.Summary != "" {
		b.WriteString(ValidUTF8(r.Summary) + "\n\n")
	}
	if r.Exception != nil {
		b.WriteString("Exception: " + ValidUTF8(r.Exception.Type))
		if r.Exception.Message != "" {
			b.WriteString(": " + ValidUTF8(r.Exception.Message))
		}
		b.WriteString("\n")
		if r.Exception.Frame != "" {
			b.WriteString("  at " + ValidUTF8(r.Exception.Frame) + "\n")
		}
		b.WriteString("\n")
	}
	for _, h := range r.Hints {
		b.WriteString("Hint: " + ValidUTF8(h) + "\n")
	}
	if len(r.Hints) > 0 {
		b.WriteString("\n")
	}
	for _, f := range r.Facts() {
		fmt.Fprintf(&b, "%-11s %s\n", f[0]+":", ValidUTF8(f[1]))
	}
	if h := r.HeldText(); h != "" {
		b.WriteString("\n" + h + "\n")
	}
	if len(r.Errors) > 0 {
		b.WriteString("\nErrors logged during the run:\n")
		for _, e := range r.Errors {
			b.WriteString("  " + ValidUTF8(e.String()) + "\n")
		}
	}
	if len(r.Crashes) > 0 {
		b.WriteString("\nRecent failed runs:\n")
		for _, c := range r.Crashes {
			b.WriteString("  " + c.String() + "\n")
		}
	}
	for _, p := range r.Problems {
		b.WriteString("\nNote: " + ValidUTF8(p))
	}
	if len(r.Problems) > 0 {
		b.WriteString("\n")
	}
	if !r.HasLines() {
		return b.String()
	}
	b.WriteString("\n" + r.linesHeading() + "\n")
	if r.LinesProblem != "" {
		b.WriteString("(" + ValidUTF8(r.LinesProblem) + ")\n")
	}
	for _, l := range r.Lines {
		b.WriteString(FormatLine(l) + "\n")
	}
	return b.String()
}

// HasLines says the report has a log excerpt section: every failure does,
// even an empty one (its LinesProblem says why); a recovery notice or a
// reminder has none.
func (r *Report) HasLines() bool {
	return len(r.Lines) > 0 || r.LinesProblem != "" || (r.Event != EventResolved && r.Event != EventReminder)
}

func (r *Report) linesHeading() string {
	if h := r.WatcherHeading(); h != "" {
		return h
	}
	if r.InvocationID != "" {
		return fmt.Sprintf("Last %d log lines of the failed run:", len(r.Lines))
	}
	return fmt.Sprintf("Last %d log lines of the unit:", len(r.Lines))
}

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"line":  FormatLine,
	"valid": ValidUTF8,
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{valid .R.Subject}}</title></head>
<body style="font-family: sans-serif">
<h2 style="margin-bottom:4px">{{valid .R.Subject}}</h2>{{if .Fresh}}<p><strong>New since the last notice: {{valid .Fresh}}</strong></p>{{else if ne .R.Title .R.Subject}}<p><strong>This failure: {{valid .R.Title}}</strong></p>{{end}}
{{if .R.Test}}<p><strong>This is a test sent by <code>odoo-notify test</code>: nothing failed.</strong></p>{{end}}
{{if .R.Summary}}<p>{{valid .R.Summary}}</p>{{end}}
{{with .R.Exception}}<p><strong>{{valid .Type}}</strong>{{if .Message}}: {{valid .Message}}{{end}}{{if .Frame}}<br><small>at {{valid .Frame}}</small>{{end}}</p>{{end}}
{{range .R.Hints}}<p>Hint: {{valid .}}</p>{{end}}
<table cellpadding="2">{{range .Facts}}<tr><th align="left">{{index . 0}}</th><td>{{valid (index . 1)}}</td></tr>{{end}}</table>
{{with .Held}}<p>{{.}}</p>{{end}}
{{if .R.Errors}}<p>Errors logged during the run:</p><ul>{{range .R.Errors}}<li>{{valid .String}}</li>{{end}}</ul>{{end}}{{if .R.Crashes}}<p>Recent failed runs:</p><ul>{{range .R.Crashes}}<li>{{.String}}</li>{{end}}</ul>{{end}}
{{range .R.Problems}}<p><em>Note: {{valid .}}</em></p>{{end}}
{{if .R.HasLines}}<p>{{.Heading}}</p>
{{if .R.LinesProblem}}<p><em>({{valid .R.LinesProblem}})</em></p>{{end}}
<pre style="font-size:12px; white-space:pre-wrap">{{range .R.Lines}}{{line .}}
{{end}}</pre>{{end}}
</body></html>
`))

// HTML renders the report as an HTML page for the mail's HTML alternative.
// html/template escapes every piece of log text.
func (r *Report) HTML() (string, error) {
	var b bytes.Buffer
	err := htmlTmpl.Execute(&b, struct {
		R       *Report
		Facts   [][2]string
		Held    string
		Heading string
		Fresh   string
	}{r, r.Facts(), r.HeldText(), r.linesHeading(), r.Fresh()})
	if err != nil {
		return "", fmt.Errorf("report: render html: %w", err)
	}
	return b.String(), nil
}
