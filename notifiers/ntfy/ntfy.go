// Package ntfy pushes a crash report to the phones subscribed to an ntfy
// topic (https://docs.ntfy.sh/publish/#publish-as-json): the subject as the
// title, the report as plain text. The access token and the topic (on a
// public server the topic is the only password) never appear in an error
// or a log line.
package ntfy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/chat"
	"github.com/odoo-notify/odoo-notify/report"
)

// MaxMessage is ntfy's message limit in bytes; a longer one becomes an
// attachment, which a phone does not show.
const MaxMessage = 4096

// maxTitle bounds the title, which a phone shows on one line.
const maxTitle = 250

// DefaultTags give the notification a siren.
var DefaultTags = []string{"rotating_light"}

// Notifier publishes reports to one topic.
type Notifier struct {
	url      string
	topic    string
	token    config.Secret
	priority int
	tags     []string
	client   *http.Client
}

// New returns a Notifier for the validated channel c. client carries the
// timeouts; it is shared by every channel of a run.
func New(c config.Ntfy, client *http.Client) *Notifier {
	n := &Notifier{url: c.URL, topic: c.Topic, token: c.Token, tags: c.Tags, client: client}
	if n.url == "" {
		n.url = config.DefaultNtfyURL
	}
	n.priority = config.NtfyPriorities[strings.ToLower(c.Priority)]
	if n.priority == 0 {
		n.priority = config.NtfyPriorities[config.DefaultNtfyPriority]
	}
	if len(n.tags) == 0 {
		n.tags = DefaultTags
	}
	return n
}

// String names the server, never the topic or the token.
func (n *Notifier) String() string { return "ntfy " + notifiers.RedactURL(n.url) }

// Markup is plain text: a phone shows every character as written.
var Markup = chat.Markup{
	Service: "ntfy",
	Text:    func(s string) string { return s },
	Code:    func(s string) string { return s },
	Block:   func(s string) string { return s },
	Len:     chat.Bytes,
	Unit:    "bytes",
	NoTitle: true,
}

// Render is the message of r's notification; the subject is its title.
func Render(r *report.Report) string { return Markup.Render(chat.New(r), MaxMessage) }

type publish struct {
	Topic    string   `json:"topic"`
	Title    string   `json:"title"`
	Message  string   `json:"message"`
	Priority int      `json:"priority"`
	Tags     []string `json:"tags,omitempty"`
}

// answer is ntfy's error body.
type answer struct {
	Code  int    `json:"code"`
	HTTP  int    `json:"http"`
	Error string `json:"error"`
	Link  string `json:"link"`
}

// Notify publishes r. It returns retry=true for answers that may go away
// (429, 5xx, network errors).
func (n *Notifier) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	p := publish{
		Topic:    n.topic,
		Title:    report.Truncate(report.ValidUTF8(r.Title()), maxTitle),
		Message:  Render(r),
		Priority: n.priority,
		Tags:     n.tags,
	}
	if r.Event == report.EventResolved {
		// Good news need not wake anyone.
		p.Priority, p.Tags = config.NtfyPriorities["default"], []string{"white_check_mark"}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("ntfy: encode message: %w", err)
	}
	secrets := append(notifiers.URLSecrets(n.url), n.topic)
	var h http.Header
	if n.token != "" {
		h = http.Header{"Authorization": {"Bearer " + n.token.Reveal()}}
		secrets = append(secrets, n.token.Reveal())
	}
	// Publishing JSON goes to the server's root; the topic is in the body.
	retry, err = notifiers.PostJSON(ctx, n.client, strings.TrimRight(n.url, "/")+"/", h, body, secrets...)
	if err != nil {
		return retry, fmt.Errorf("ntfy: publish: %w", explain(err))
	}
	return false, nil
}

// explain puts ntfy's error and code in the error, in place of its JSON,
// with what to fix.
func explain(err error) error {
	var se *notifiers.StatusError
	if !errors.As(err, &se) {
		return err
	}
	var a answer
	if json.Unmarshal(se.Detail, &a) != nil || a.Error == "" {
		return err
	}
	se.Body = fmt.Sprintf("%s (ntfy error %d)", report.OneLine(a.Error), a.Code)
	if h := hint(se.Code, a.Code); h != "" {
		return fmt.Errorf("%w: %s", err, h)
	}
	return err
}

func hint(status, code int) string {
	switch {
	case code == 42908 || code == 42909:
		return "the server's daily message quota is used up: the report waits and is sent again"
	case status == http.StatusTooManyRequests:
		return "the server limits how fast one host may publish: the report waits and is sent again"
	case status == http.StatusUnauthorized:
		return "the topic needs an access token: set token (or token_file) to one that may publish to it"
	case status == http.StatusForbidden:
		return "this token or user may not publish to the topic: check token and the server's access rules"
	case status == http.StatusNotFound:
		return "no ntfy server answers at this url: check url"
	case status == http.StatusRequestEntityTooLarge:
		return "the server refused the message as too large: report this as a bug in odoo-notify"
	case status == http.StatusBadRequest:
		return "the server refused the message: check topic and priority"
	}
	return ""
}
