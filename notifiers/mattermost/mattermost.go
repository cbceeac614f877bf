// Package mattermost posts a crash report to a Mattermost incoming webhook
// (https://developers.mattermost.com/integrate/webhooks/incoming/) as
// Markdown. @channel, @all, @here and every @name in log text are broken
// with a zero-width space, so a log line notifies nobody. The webhook URL
// holds its key: it never appears in an error or a log line.
package mattermost

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

// MaxText is a Mattermost post's limit, in characters (PostMessageMaxRunesV2);
// a longer webhook text is split into several posts, which a report must not be.
const MaxText = 16383

// Notifier posts reports to one incoming webhook.
type Notifier struct {
	url               config.Secret
	channel, username string
	client            *http.Client
}

// New returns a Notifier for the validated channel c. client carries the
// timeouts; it is shared by every channel of a run.
func New(c config.Mattermost, client *http.Client) *Notifier {
	return &Notifier{url: c.WebhookURL, channel: c.Channel, username: c.Username, client: client}
}

// String names the webhook by its host alone.
func (n *Notifier) String() string {
	return "mattermost webhook " + notifiers.RedactURL(n.url.Reveal())
}

// Markup is Mattermost's Markdown. Mentions are broken in code blocks too:
// a log line quoted there must not page a channel either.
var Markup = chat.Markup{
	Service: "Mattermost",
	Text:    func(s string) string { return chat.Unmention(chat.EscapeMarkdown(s)) },
	Code:    func(s string) string { return chat.Unmention(chat.Unfence(s)) },
	Bold:    func(s string) string { return "**" + s + "**" },
	Block:   func(s string) string { return "```\n" + s + "\n```" },
	Len:     chat.Runes,
	Unit:    "characters",
}

// Render is the text of r's post.
func Render(r *report.Report) string { return Markup.Render(chat.New(r), MaxText) }

// answer is Mattermost's error body (model.AppError).
type answer struct {
	ID         string `json:"id"`
	Message    string `json:"message"`
	StatusCode int    `json:"status_code"`
}

// Notify posts r. It returns retry=true for answers that may go away (429,
// 5xx, network errors).
func (n *Notifier) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	body, err := json.Marshal(struct {
		Text     string `json:"text"`
		Channel  string `json:"channel,omitempty"`
		Username string `json:"username,omitempty"`
	}{Render(r), n.channel, n.username})
	if err != nil {
		return false, fmt.Errorf("mattermost: encode post: %w", err)
	}
	secrets := notifiers.URLSecrets(n.url.Reveal())
	retry, err = notifiers.PostJSON(ctx, n.client, n.url.Reveal(), nil, body, secrets...)
	if err != nil {
		return retry, fmt.Errorf("mattermost: post webhook: %w", explain(err))
	}
	return false, nil
}

// explain puts Mattermost's message and error id in the error, in place of
// its JSON, with what to fix.
func explain(err error) error {
	var se *notifiers.StatusError
	if !errors.As(err, &se) {
		return err
	}
	var a answer
	if json.Unmarshal(se.Detail, &a) != nil || a.Message == "" {
		if se.Code == http.StatusNotFound {
			return fmt.Errorf("%w: no Mattermost webhook at this URL: check webhook_url", err)
		}
		return err
	}
	se.Body = report.OneLine(a.Message)
	if a.ID != "" {
		se.Body += " (" + a.ID + ")"
	}
	for _, h := range hints {
		if strings.Contains(a.ID, h[0]) {
			return fmt.Errorf("%w: %s", err, h[1])
		}
	}
	return err
}

// hints by the id of Mattermost's AppError, the first that matches.
var hints = [][2]string{
	{"incoming_webhook.invalid", "Mattermost does not know this webhook (deleted, or the URL is wrong): make a new one and put its URL in webhook_url"},
	{"incoming_webhook.disabled", "incoming webhooks are turned off on this server: ask its admin to enable them"},
	{"incoming_webhook.channel_locked", "the webhook is locked to its own channel: remove channel from the config, or unlock the webhook"},
	{"incoming_webhook.channel", "the channel in the config does not exist, or the webhook's owner may not post there: check channel"},
	{"incoming_webhook.user", "the webhook's owner is gone: make a new webhook"},
	{"incoming_webhook.text", "Mattermost found no text in the post: report this as a bug in odoo-notify"},
	{"incoming_webhook.parse", "Mattermost could not read the post: report this as a bug in odoo-notify"},
	{"incoming_webhook.permissions", "the webhook's owner may not post in this channel: check its permissions"},
	{"context.invalid_body_param", "Mattermost refused the post: report this as a bug in odoo-notify"},
}
