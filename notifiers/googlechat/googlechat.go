// Package googlechat posts a crash report to a Google Chat space through
// its incoming webhook (https://developers.google.com/workspace/chat/quickstart/webhooks)
// as a text message. Log text cannot mention anyone: "<" is followed by a
// zero-width space, so no "<users/all>" is left. The webhook URL's key and
// token are the secret: they never appear in an error or a log line.
package googlechat

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

// MaxText is Google Chat's limit on a message, in bytes.
const MaxText = 32000

// Notifier posts reports to one space.
type Notifier struct {
	url    config.Secret
	client *http.Client
}

// New returns a Notifier for the validated channel c. client carries the
// timeouts; it is shared by every channel of a run.
func New(c config.GoogleChat, client *http.Client) *Notifier {
	return &Notifier{url: c.WebhookURL, client: client}
}

// String names the webhook by its host alone.
func (n *Notifier) String() string {
	return "googlechat webhook " + notifiers.RedactURL(n.url.Reveal())
}

// Markup is Google Chat's text formatting, which has no escapes: mentions
// and links (<users/all>, <url|text>) are broken after "<", and a code
// block cannot be closed from inside.
var Markup = chat.Markup{
	Service: "Google Chat",
	Text:    func(s string) string { return unlink(chat.Unfence(s)) },
	Code:    func(s string) string { return unlink(chat.Unfence(s)) },
	Bold:    func(s string) string { return "*" + s + "*" },
	Block:   func(s string) string { return "```\n" + s + "\n```" },
	Len:     chat.Bytes,
	Unit:    "bytes",
}

func unlink(s string) string { return strings.ReplaceAll(s, "<", "<\u200b") }

// Render is the text of r's message.
func Render(r *report.Report) string { return Markup.Render(chat.New(r), MaxText) }

// answer is a Google API error body.
type answer struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// Notify posts r. It returns retry=true for answers that may go away (429,
// 5xx, network errors).
func (n *Notifier) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{Render(r)})
	if err != nil {
		return false, fmt.Errorf("googlechat: encode message: %w", err)
	}
	secrets := notifiers.URLSecrets(n.url.Reveal())
	h := http.Header{"Content-Type": {"application/json; charset=UTF-8"}}
	retry, err = notifiers.PostJSON(ctx, n.client, n.url.Reveal(), h, body, secrets...)
	if err != nil {
		return retry, fmt.Errorf("googlechat: post webhook: %w", explain(err))
	}
	return false, nil
}

// explain puts Google's status and message in the error, in place of its
// JSON, with what to fix.
func explain(err error) error {
	var se *notifiers.StatusError
	if !errors.As(err, &se) {
		return err
	}
	var a answer
	if json.Unmarshal(se.Detail, &a) == nil && a.Error.Message != "" {
		se.Body = report.OneLine(a.Error.Status + ": " + a.Error.Message)
	}
	if h := hints[se.Code]; h != "" {
		return fmt.Errorf("%w: %s", err, h)
	}
	return err
}

// hints by HTTP status: Google's status names follow it.
var hints = map[int]string{
	http.StatusBadRequest:            "Google Chat refused the message, or the webhook URL is incomplete: copy it again from the space's Apps & integrations page",
	http.StatusUnauthorized:          "the webhook URL's key or token is wrong: copy it again from the space's Apps & integrations page",
	http.StatusForbidden:             "the webhook may no longer post in this space (removed, or the space's settings changed): make a new webhook",
	http.StatusNotFound:              "Google Chat does not know this space or webhook: make a new webhook and put its URL in webhook_url",
	http.StatusRequestEntityTooLarge: "Google Chat refused the message as too large: report this as a bug in odoo-notify",
	http.StatusTooManyRequests:       "Google Chat allows about one message a second per space: the report waits and is sent again",
}
