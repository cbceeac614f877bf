package slack

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/odoo-notify/odoo-notify/report"
)

// Slack's Block Kit limits, counted in characters
// (https://docs.slack.dev/reference/block-kit/blocks).
const (
	MaxHeader      = 150
	MaxSectionText = 3000
	MaxBlocks      = 50
)

const (
	// maxLineRunes bounds one log line as sent (escaped): a 10 MB line
	// shows its start and says it was cut.
	maxLineRunes = 1000
	// maxLogRunes bounds the whole log excerpt. Slack folds long messages
	// behind "Show more", and the last lines (the traceback) matter most,
	// so the excerpt keeps the newest lines that fit.
	maxLogRunes = 12000
	// fence opens and closes a code block; a section holds it twice.
	fence = "```"
)

// Render builds the message for r: a header with the subject, the facts,
// the crash history, and the newest log lines as code blocks. Every piece of
// text from the failed unit is escaped, so a log line cannot mention
// @channel or break out of its code block, and every block stays within
// Slack's limits, saying so where something was cut.
func Render(r *report.Report) slack.WebhookMessage {
	return render(r, section(incidentLine(r)))
}

// render builds the message with incident as its incident block (nil for
// none): the line naming the incident, or, on a Slack app's opening
// message, the incident's state now.
func render(r *report.Report, incident slack.Block) slack.WebhookMessage {
	subject := report.ValidUTF8(r.Title())
	blocks := []slack.Block{header(subject)}
	add := func(text string) {
		if text != "" {
			blocks = append(blocks, section(text))
		}
	}

	if r.Test {
		add(":information_source: *This is a test* sent by `odoo-notify test`: nothing failed.")
	}
	if incident != nil && !isEmptySection(incident) {
		blocks = append(blocks, incident)
	}
	add(esc(r.Summary))
	if e := r.Exception; e != nil && e.Type != "" {
		s := "*" + esc(e.Type) + "*"
		if e.Message != "" {
			s += ": " + esc(e.Message)
		}
		if e.Frame != "" {
			s += "\nat " + esc(e.Frame)
		}
		add(s)
	}
	var hints []string
	for _, h := range r.Hints {
		hints = append(hints, "*Hint:* "+esc(h))
	}
	add(strings.Join(hints, "\n"))

	var facts []string
	for _, f := range r.Facts() {
		facts = append(facts, "*"+f[0]+":* "+esc(f[1]))
	}
	add(strings.Join(facts, "\n"))

	if len(r.Errors) > 0 {
		errs := []string{"*Errors logged during the run:*"}
		for _, e := range r.Errors {
			errs = append(errs, "• "+esc(e.String()))
		}
		add(strings.Join(errs, "\n"))
	}

	var history []string
	if h := r.HeldText(); h != "" {
		history = append(history, esc(h))
	}
	if len(r.Crashes) > 0 {
		history = append(history, "*Recent failed runs:*")
		for _, c := range r.Crashes {
			history = append(history, "• "+esc(c.String()))
		}
	}
	add(strings.Join(history, "\n"))

	var notes []string
	for _, p := range r.Problems {
		notes = append(notes, "*Note:* "+esc(p))
	}
	add(strings.Join(notes, "\n"))

	shown, code := logExcerpt(r.Lines)
	if (!r.Test || len(r.Lines) > 0 || r.LinesProblem != "") && r.HasLines() {
		add(logHeading(r, shown))
	}
	for _, c := range code {
		blocks = append(blocks, slack.NewSectionBlock(text(c), nil, nil))
	}

	return slack.WebhookMessage{
		Text:   esc(subject),
		Blocks: &slack.Blocks{BlockSet: blocks},
	}
}

// incidentLine names the incident a follow-up belongs to, so a channel
// that cannot thread still reads as one story.
func incidentLine(r *report.Report) string {
	in := r.Incident
	if in == nil {
		return ""
	}
	opened := in.Opened.UTC().Format("2006-01-02 15:04 MST")
	switch r.Event {
	case report.EventUpdate:
		return fmt.Sprintf(":repeat: *Update* of incident `%s`, open since %s: %d failure(s)", esc(in.ID), opened, in.Failures)
	case report.EventResolved:
		return fmt.Sprintf(":white_check_mark: *Resolved:* incident `%s`, opened %s", esc(in.ID), opened)
	case report.EventReminder:
		return fmt.Sprintf(":hourglass: *Still down:* incident `%s`, open since %s: %d failure(s)", esc(in.ID), opened, in.Failures)
	}
	return fmt.Sprintf(":rotating_light: Opens incident `%s`", esc(in.ID))
}

// logHeading names the excerpt and says what is missing from it.
func logHeading(r *report.Report, shown int) string {
	of := "the failed run"
	if r.InvocationID == "" {
		of = "the unit"
	}
	var s string
	if h := r.WatcherHeading(); h != "" && len(r.Lines) > 0 {
		s = "*" + esc(h) + "*"
	} else if len(r.Lines) == 0 {
		s = "*No log lines of " + of + " were found.*"
	} else {
		s = fmt.Sprintf("*Last %d log lines of %s:*", len(r.Lines), of)
	}
	if r.LinesProblem != "" {
		s += "\n(" + esc(r.LinesProblem) + ")"
	}
	if hidden := len(r.Lines) - shown; hidden > 0 {
		s += fmt.Sprintf("\n… %d earlier lines not shown (cut to fit Slack's limits)", hidden)
	}
	return s
}

// logExcerpt escapes the newest lines that fit maxLogRunes and packs them,
// whole, into code blocks of at most MaxSectionText characters each. It
// returns how many lines it kept.
func logExcerpt(lines []report.Line) (shown int, sections []string) {
	var kept []string
	total := 0
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		// Cut before formatting: a 10 MB line would otherwise be copied
		// whole to repair its UTF-8, only to be cut afterwards.
		line.Message = report.Truncate(line.Message, report.MaxLineBytes)
		l := cut(esc(report.FormatLine(line)), maxLineRunes)
		n := utf8.RuneCountInString(l) + 1
		if total+n > maxLogRunes {
			break
		}
		kept = append(kept, l)
		total += n
	}
	var b strings.Builder
	size := 0
	flush := func() {
		if size > 0 {
			sections = append(sections, fence+"\n"+b.String()+fence)
			b.Reset()
			size = 0
		}
	}
	room := MaxSectionText - 2*len(fence) - 1
	for i := len(kept) - 1; i >= 0; i-- {
		n := utf8.RuneCountInString(kept[i]) + 1
		if size+n > room {
			flush()
		}
		b.WriteString(kept[i])
		b.WriteByte('\n')
		size += n
	}
	flush()
	return len(kept), sections
}

// header is the message's title, plain text cut to Slack's limit.
func header(title string) *slack.HeaderBlock {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, report.TruncateRunes(title, MaxHeader), false, false))
}

func isEmptySection(b slack.Block) bool {
	s, ok := b.(*slack.SectionBlock)
	return ok && (s.Text == nil || s.Text.Text == "") && len(s.Fields) == 0
}

// section is a mrkdwn section cut to Slack's limit.
func section(s string) *slack.SectionBlock {
	return slack.NewSectionBlock(text(cut(s, MaxSectionText)), nil, nil)
}

// text is mrkdwn that Slack shows as written: verbatim keeps it from
// turning bare URLs, #channel names and @mentions into links or pings.
func text(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// esc makes untrusted text safe in mrkdwn: Slack reads <...> as a link or
// mention (<!channel>), so &, < and > are sent as entities, and runs of
// backticks are broken up so the text cannot open or close a code block.
// Invalid UTF-8 becomes U+FFFD.
func esc(s string) string {
	return unfence(escaper.Replace(report.ValidUTF8(s)))
}

// unfence puts a zero-width space between any two backticks in a row, so
// that no "```" is left to start or end a code block.
func unfence(s string) string {
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

// cut shortens escaped text to max characters with report.CutMark, never
// leaving half an entity ("&am") behind.
func cut(s string, max int) string {
	t := report.TruncateRunes(s, max)
	if t == s {
		return s
	}
	kept := strings.TrimSuffix(t, report.CutMark)
	if i := strings.LastIndexByte(kept, '&'); i >= 0 && !strings.Contains(kept[i:], ";") {
		kept = kept[:i]
	}
	return kept + report.CutMark
}
