// Package chat renders a crash report as one chat message: a title, the
// facts, and as many of the newest log lines as the service's size limit
// takes, saying what was cut. Each chat channel (Telegram, Discord,
// Mattermost, Google Chat, ntfy, Teams) gives its own Markup: how it escapes
// untrusted text, so that a log line can neither format the message nor
// mention anyone, and how it counts a message's size.
package chat

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/odoo-notify/odoo-notify/report"
)

// maxPieceRunes bounds one paragraph of the report (a summary, a hint, an
// exception message) before escaping: a 10 MB exception message shows its
// start and says it was cut.
const maxPieceRunes = 600

// Message is what a chat channel shows of a report, as plain text; every
// string still has to be escaped for the service.
type Message struct {
	// Title is the report's own title: "[RESOLVED] erp1: ..." for an
	// incident's recovery notice.
	Title string
	// Event is the report's incident event (report.EventFiring, ...).
	Event string
	// Paragraphs come between the title and the facts: the test notice,
	// the summary, the exception, the hints.
	Paragraphs []string
	Facts      [][2]string
	// After come below the facts: what was held back, earlier failed runs,
	// what could not be learned.
	After []string
	// LogHeading names the log excerpt: "Last 50 log lines of the failed
	// run:", or what the watcher's lines are.
	LogHeading string
	// Lines are the formatted log lines, oldest first.
	Lines []string
}

// New takes from r what a chat message shows.
func New(r *report.Report) Message {
	m := Message{Title: report.ValidUTF8(r.Title()), Event: r.Event}
	add := func(dst *[]string, s string) {
		if s = strings.TrimSpace(report.ValidUTF8(s)); s != "" {
			*dst = append(*dst, report.TruncateRunes(s, maxPieceRunes))
		}
	}
	if r.Test {
		add(&m.Paragraphs, "This is a test sent by `odoo-notify test`: nothing failed.")
	}
	add(&m.Paragraphs, incidentLine(r))
	add(&m.Paragraphs, r.Summary)
	if e := r.Exception; e != nil && e.Type != "" {
		s := e.Type
		if e.Message != "" {
			s += ": " + e.Message
		}
		if e.Frame != "" {
			s += "\nat " + e.Frame
		}
		add(&m.Paragraphs, s)
	}
	for _, h := range r.Hints {
		add(&m.Paragraphs, "Hint: "+h)
	}
	for _, f := range r.Facts() {
		m.Facts = append(m.Facts, [2]string{f[0], report.TruncateRunes(report.ValidUTF8(f[1]), maxPieceRunes)})
	}
	add(&m.After, r.HeldText())
	if s := errorsText(r.Errors); s != "" {
		m.After = append(m.After, s)
	}
	if len(r.Crashes) > 0 {
		var b strings.Builder
		b.WriteString("Recent failed runs:")
		for _, c := range r.Crashes {
			b.WriteString("\n• " + c.String())
		}
		add(&m.After, b.String())
	}
	for _, p := range r.Problems {
		add(&m.After, "Note: "+p)
	}
	if (!r.Test || len(r.Lines) > 0 || r.LinesProblem != "") && r.HasLines() {
		of := "the failed run"
		if r.InvocationID == "" {
			of = "the unit"
		}
		m.LogHeading = "No log lines of " + of + " were found."
		if h := r.WatcherHeading(); h != "" && len(r.Lines) > 0 {
			m.LogHeading = h
		} else if len(r.Lines) > 0 {
			m.LogHeading = fmt.Sprintf("Last %d log lines of %s:", len(r.Lines), of)
		}
		if r.LinesProblem != "" {
			m.LogHeading += " (" + report.TruncateRunes(report.ValidUTF8(r.LinesProblem), maxPieceRunes) + ")"
		}
	}
	for _, l := range r.Lines {
		// Cut before formatting: a 10 MB line would otherwise be copied
		// whole to repair its UTF-8, only to be cut afterwards.
		l.Message = report.Truncate(l.Message, report.MaxLineBytes)
		m.Lines = append(m.Lines, report.FormatLine(l))
	}
	return m
}

// maxErrorRunes bounds one logged error's line in the errors part, which
// holds whole lines up to maxPieceRunes, so a chat's limit keeps the facts
// and the newest log lines.
const maxErrorRunes = 200

// errorsText lists the kinds of error the run logged, most frequent
// first, one line each ("14 x KeyError: 'ir.http' (request handling), last
// 10:31:02"), as many whole lines as maxPieceRunes takes, saying how many
// it left out.
func errorsText(errs []report.LoggedError) string {
	if len(errs) == 0 {
		return ""
	}
	const heading = "Errors logged during the run:"
	var b strings.Builder
	b.WriteString(heading)
	n := utf8.RuneCountInString(heading)
	for i, e := range errs {
		line := "\n• " + report.TruncateRunes(strings.TrimSpace(report.ValidUTF8(e.String())), maxErrorRunes)
		more := ""
		if rest := len(errs) - i - 1; rest > 0 {
			more = fmt.Sprintf("\n… %d more kind(s) of error not shown", rest)
		}
		l := utf8.RuneCountInString(line)
		if i > 0 && n+l+utf8.RuneCountInString(more) > maxPieceRunes {
			fmt.Fprintf(&b, "\n… %d more kind(s) of error not shown", len(errs)-i)
			break
		}
		b.WriteString(line)
		n += l
	}
	return b.String()
}

// incidentLine names the incident a report belongs to, so that a channel
// that cannot thread still reads as one story.
func incidentLine(r *report.Report) string {
	in := r.Incident
	if in == nil {
		return ""
	}
	opened := in.Opened.UTC().Format("2006-01-02 15:04 MST")
	switch r.Event {
	case report.EventUpdate:
		return fmt.Sprintf("Update of incident %s, open since %s: %d failure(s)", in.ID, opened, in.Failures)
	case report.EventResolved:
		return fmt.Sprintf("Resolved: incident %s, opened %s", in.ID, opened)
	case report.EventReminder:
		return fmt.Sprintf("Still down: incident %s, open since %s: %d failure(s)", in.ID, opened, in.Failures)
	}
	return "Opens incident " + in.ID
}

// Markup is how one service formats a message.
type Markup struct {
	// Service names the service in the note that says what was cut.
	Service string
	// Text escapes untrusted prose; Code escapes untrusted text inside a
	// code block. Both also neutralise mentions.
	Text, Code func(string) string
	// Bold marks escaped text as bold; nil leaves it plain.
	Bold func(string) string
	// Block wraps escaped lines, joined by "\n", in a code block.
	Block func(string) string
	// Len measures a rendered message the way the service counts its
	// limit: characters, UTF-16 units or bytes.
	Len func(string) int
	// Unit names what Len counts, for the note: "characters", "bytes".
	Unit string
	// NoTitle leaves the title out of the text (ntfy sends it apart).
	NoTitle bool
}

// Render writes m as one message of at most limit, as Markup.Len counts. It
// keeps the newest log lines that fit and says how many older ones it left
// out; a line longer than a quarter of the limit is cut, with
// report.CutMark. When even the facts do not fit, the paragraphs at the end
// go first, and the message says so.
func (mk Markup) Render(m Message, limit int) string {
	lineMax := max(limit/4, 40)
	lines := make([]string, len(m.Lines))
	for i, l := range m.Lines {
		lines[i] = mk.Code(report.TruncateRunes(l, lineMax))
	}
	head := mk.head(m)
	for drop := 0; ; drop++ {
		h := head
		if drop > 0 {
			h = append(h[:len(h)-drop:len(h)-drop], mk.Text(fmt.Sprintf("… %d more part(s) of the report not shown (cut to fit %s's limit of %d %s)", drop, mk.Service, limit, mk.Unit)))
		}
		render := func(k int) string { return mk.join(h, m, lines, k, limit) }
		if k := Fit(len(lines), limit, func(k int) int { return mk.Len(render(k)) }); k >= 0 {
			return render(k)
		}
		if drop >= len(head)-1 || len(head) == 0 {
			// Only the title is left and it does not fit: a limit
			// this small is a bug in the caller.
			return report.TruncateRunes(render(0), limit)
		}
	}
}

// head is every part above the log heading, escaped, title first.
func (mk Markup) head(m Message) []string {
	bold := mk.Bold
	if bold == nil {
		bold = func(s string) string { return s }
	}
	var h []string
	if !mk.NoTitle {
		h = append(h, bold(mk.Text(m.Title)))
	}
	for _, p := range m.Paragraphs {
		h = append(h, mk.Text(p))
	}
	if len(m.Facts) > 0 {
		var facts []string
		for _, f := range m.Facts {
			facts = append(facts, bold(mk.Text(f[0]+":"))+" "+mk.Text(f[1]))
		}
		h = append(h, strings.Join(facts, "\n"))
	}
	for _, p := range m.After {
		h = append(h, mk.Text(p))
	}
	return h
}

// join renders the head and the newest k of lines.
func (mk Markup) join(head []string, m Message, lines []string, k, limit int) string {
	parts := append([]string(nil), head...)
	if m.LogHeading != "" {
		bold := mk.Bold
		if bold == nil {
			bold = func(s string) string { return s }
		}
		parts = append(parts, bold(mk.Text(m.LogHeading)))
	}
	if hidden := len(lines) - k; hidden > 0 {
		parts = append(parts, mk.Text(fmt.Sprintf("… %d earlier line(s) not shown (cut to fit %s's limit of %d %s)", hidden, mk.Service, limit, mk.Unit)))
	}
	if k > 0 {
		parts = append(parts, mk.Block(strings.Join(lines[len(lines)-k:], "\n")))
	}
	return strings.Join(parts, "\n\n")
}

// Fit returns the largest k in [0, n] with size(k) <= limit, or -1 when not
// even size(0) fits. size must grow with k.
func Fit(n, limit int, size func(k int) int) int {
	if size(0) > limit {
		return -1
	}
	lo, hi := 0, n // size(lo) fits; find the last k that does
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if size(mid) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// Runes counts characters (Unicode code points), as Discord and Mattermost do.
func Runes(s string) int { return utf8.RuneCountInString(s) }

// Bytes counts UTF-8 bytes, as ntfy and Google Chat do.
func Bytes(s string) int { return len(s) }

// UTF16 counts UTF-16 code units, as Telegram does: an emoji outside the
// Basic Multilingual Plane counts twice.
func UTF16(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// Unfence puts a zero-width space between two backticks in a row, so that
// no "```" is left to open or close a Markdown code block.
func Unfence(s string) string {
	if !strings.Contains(s, "``") {
		return s
	}
	var b strings.Builder
	prev := rune(0)
	for _, r := range s {
		if r == '`' && prev == '`' {
			b.WriteRune('\u200b')
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// Unmention puts a zero-width space after every "@" that starts a word, so
// that "@channel", "@all", "@here" and "@someone" reach nobody.
func Unmention(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '@' && i+1 < len(s) && isWordStart(s[i+1]) {
			b.WriteString("\u200b")
		}
	}
	return b.String()
}

func isWordStart(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// EscapeMarkdown puts a backslash before every character CommonMark could
// read as formatting, so that a log line shows as written.
func EscapeMarkdown(s string) string {
	return mdEscaper.Replace(s)
}

var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "~", `\~`, "|", `\|`,
	"[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "#", `\#`,
)
