package report

import (
	"strings"
	"unicode/utf8"
)

// CutMark ends text that was cut to fit a channel's limit.
const CutMark = "… [cut]"

// OneLine replaces CR, LF and other control characters with spaces, so log
// text can go in a mail header or a one-line summary.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// Truncate cuts s to at most max bytes on a rune boundary, ending it with
// CutMark when anything was cut. Invalid UTF-8 is kept as it is up to the cut.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	keep := max - len(CutMark)
	mark := CutMark
	if keep < 0 {
		keep, mark = max, ""
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + mark
}

// TruncateRunes cuts s to at most max runes (characters), ending it with
// CutMark when anything was cut. Slack counts its limits in characters.
func TruncateRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	keep := max - utf8.RuneCountInString(CutMark)
	if keep < 0 {
		keep = 0
	}
	i := 0
	for n := 0; n < keep; n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + CutMark
}

// ValidUTF8 replaces every invalid byte sequence with U+FFFD, so text can be
// rendered where invalid UTF-8 is not allowed (Slack, HTML, mail bodies).
func ValidUTF8(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
