// Package discord posts a crash report to a Discord channel through a
// webhook (https://discord.com/developers/docs/resources/webhook#execute-webhook).
// allowed_mentions is empty, so no log line pings anyone. The webhook URL
// holds its token: it never appears in an error or a log line.
package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/chat"
	"github.com/odoo-notify/odoo-notify/report"
)

// MaxContent is Discord's limit on a message's content, in characters.
const MaxContent = 2000

// Notifier posts reports to one webhook.
type Notifier struct {
	url      config.Secret
	username string
	client   *http.Client
}

// New returns a Notifier for the validated channel c. client carries the
// timeouts; it is shared by every channel of a run.
func New(c config.Discord, client *http.Client) *Notifier {
	return &Notifier{url: c.WebhookURL, username: c.Username, client: client}
}

// String names the webhook by its host alone.
func (n *Notifier) String() string { return "discord webhook " + notifiers.RedactURL(n.url.Reveal()) }

// Markup is Discord's Markdown: prose has every formatting character
// escaped with a backslash, a code block cannot be closed from inside.
var Markup = chat.Markup{
	Service: "Discord",
	Text:    chat.EscapeMarkdown,
	Code:    chat.Unfence,
	Bold:    func(s string) string { return "**" + s + "**" },
	Block:   func(s string) string { return "```\n" + s + "\n```" },
	Len:     chat.Runes,
	Unit:    "characters",
}

// Render is the content of r's message.
func Render(r *report.Report) string { return Markup.Render(chat.New(r), MaxContent) }

type message struct {
	Content  string `json:"content"`
	Username string `json:"username,omitempty"`
	// Parse nothing: @everyone, @here, <@user> and <@&role> in a log line
	// show as text and ping nobody.
	AllowedMentions struct {
		Parse []string `json:"parse"`
	} `json:"allowed_mentions"`
}

// answer is Discord's error body; a 429 adds retry_after, in seconds.
type answer struct {
	Message    string  `json:"message"`
	Code       int     `json:"code"`
	RetryAfter float64 `json:"retry_after"`
	Global     bool    `json:"global"`
}

// Notify posts r. It returns retry=true for answers that may go away (429,
// 5xx, network errors); a 429 carries Discord's Retry-After.
func (n *Notifier) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	m := message{Content: Render(r), Username: n.username}
	m.AllowedMentions.Parse = []string{}
	body, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("discord: encode message: %w", err)
	}
	secrets := notifiers.URLSecrets(n.url.Reveal())
	retry, err = notifiers.PostJSON(ctx, n.client, n.url.Reveal(), nil, body, secrets...)
	if err != nil {
		return retry, fmt.Errorf("discord: execute webhook: %w", explain(err))
	}
	return false, nil
}

// explain puts Discord's message in the error, in place of its JSON, with
// what to fix; a 429 without Retry-After waits for retry_after.
func explain(err error) error {
	var se *notifiers.StatusError
	if !errors.As(err, &se) {
		return err
	}
	var a answer
	if json.Unmarshal(se.Detail, &a) != nil || a.Message == "" {
		return err
	}
	se.Body = report.OneLine(a.Message)
	if a.Code != 0 {
		se.Body += fmt.Sprintf(" (code %d)", a.Code)
	}
	var ra *notifiers.RetryAfterError
	if errors.As(err, &ra) && ra.After == 0 && a.RetryAfter > 0 {
		ra.After = time.Duration(math.Ceil(a.RetryAfter*1000)) * time.Millisecond
	}
	if h := hints[a.Code]; h != "" {
		return fmt.Errorf("%w: %s", err, h)
	}
	switch se.Code {
	case http.StatusUnauthorized, http.StatusNotFound:
		return fmt.Errorf("%w: %s", err, hints[10015])
	case http.StatusTooManyRequests:
		return fmt.Errorf("%w: Discord allows about five messages every two seconds per webhook: the report waits and is sent again", err)
	}
	return err
}

// hints by Discord's JSON error code
// (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json).
var hints = map[int]string{
	10003: "the webhook's channel is gone: make a new webhook and put its URL in webhook_url",
	10015: "Discord does not know this webhook (deleted, or the URL is wrong): make a new webhook and put its URL in webhook_url",
	50001: "the webhook may not see its channel: check the channel's permissions",
	50013: "the webhook may not post in its channel: check the channel's permissions",
	50027: "the webhook URL's token is wrong: copy the URL again from the channel's Integrations page",
	50035: "Discord could not read the message: report this as a bug in odoo-notify",
	50006: "Discord found the message empty: report this as a bug in odoo-notify",
}
