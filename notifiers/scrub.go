package notifiers

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
)

// minSecret is the shortest text Scrub hides: hiding "1" would mangle every
// number in a message and protect nothing.
const minSecret = 6

// Scrub hides every secret in err's message. A server's answer is quoted in
// errors, and a receiver may echo what it got ("Cannot POST /services/T0/B0/
// <key>", "bad token Bearer <key>"). err stays in the chain, so errors.As
// still finds a *RetryAfterError or a *StatusError.
func Scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	scrubbed := ScrubText(msg, secrets...)
	if scrubbed == msg {
		return err
	}
	return &scrubbedError{msg: scrubbed, err: err}
}

// ScrubText hides every secret in s, each in the forms a receiver may echo
// it: as given, and escaped for a URL's path or query.
func ScrubText(s string, secrets ...string) string {
	var all []string
	for _, sec := range secrets {
		all = append(all, sec, url.PathEscape(sec), url.QueryEscape(sec))
	}
	// Longest first: the whole URL before the segments it holds.
	slices.SortFunc(all, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range all {
		if len(sec) >= minSecret {
			s = strings.ReplaceAll(s, sec, "<secret>")
		}
	}
	return s
}

// trimPartial drops the end of s when it is the start of a secret, in any
// form ScrubText hides: s was cut there.
func trimPartial(s string, secrets []string) string {
	for _, sec := range secrets {
		for _, f := range []string{sec, url.PathEscape(sec), url.QueryEscape(sec)} {
			for k := len(f) - 1; k >= minSecret; k-- {
				if strings.HasSuffix(s, f[:k]) {
					s = s[:len(s)-k]
					break
				}
			}
		}
	}
	return s
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// URLSecrets lists the parts of a webhook URL that may be its key: the whole
// URL, its path, query, password (alone, with the user name, and base64 as
// basic auth sends it) and every long path segment (a Slack webhook's last
// segment is the key).
func URLSecrets(raw string) []string {
	s := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return s
	}
	if u.User != nil {
		// A user without a password is a token ("https://KEY@host/").
		// The client sends user:pass as basic auth, which a receiver may
		// echo as "Authorization: Basic <base64>".
		p, ok := u.User.Password()
		if !ok {
			p = u.User.Username()
		}
		userPass := u.User.Username() + ":"
		if ok {
			userPass += p
		}
		s = append(s, p, userPass, u.User.String())
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			s = append(s, enc.EncodeToString([]byte(userPass)))
		}
	}
	if u.RawQuery != "" {
		s = append(s, u.RawQuery)
		for _, vs := range u.Query() {
			s = append(s, vs...)
		}
	}
	if u.Path != "" && u.Path != "/" {
		s = append(s, u.Path, u.EscapedPath())
		for seg := range strings.SplitSeq(u.Path, "/") {
			s = append(s, seg)
		}
	}
	return s
}
