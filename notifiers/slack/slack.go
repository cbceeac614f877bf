// Package slack posts a crash report to Slack as Block Kit blocks: to an
// incoming webhook (Notifier), or as a Slack app's bot through the Web API
// (App), which threads an incident's follow-ups under its opening message
// and edits that message to show the incident's state. The webhook URL is
// the secret: it never appears in an error or a log line, which is why the
// post goes through notifiers.PostJSON and not slack.PostWebhook (whose
// errors print the URL); the bot token is hidden the same way.
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/slack-go/slack"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
)

// Notifier posts reports to one incoming webhook.
type Notifier struct {
	url    config.Secret
	client *http.Client
}

// New returns a Notifier for the validated channel c. client carries the
// timeouts; it is shared by every channel of a run.
func New(c config.Slack, client *http.Client) *Notifier {
	return &Notifier{url: c.WebhookURL, client: client}
}

// String names the webhook by its host alone, so that printing a Notifier
// (%v, %+v) never shows the key.
func (n *Notifier) String() string {
	return "slack webhook " + notifiers.RedactURL(n.url.Reveal())
}

// Notify posts r. It returns retry=true for answers that may go away (429,
// 5xx, network errors); a 429 carries Slack's Retry-After.
func (n *Notifier) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	m := Render(r)
	// Only what an incoming webhook reads: WebhookMessage would also send
	// replace_original and delete_original, which belong to response_url.
	body, err := json.Marshal(struct {
		Text   string        `json:"text"`
		Blocks *slack.Blocks `json:"blocks"`
	}{m.Text, m.Blocks})
	if err != nil {
		return false, fmt.Errorf("slack: encode message: %w", err)
	}
	secrets := notifiers.URLSecrets(n.url.Reveal())
	retry, err = notifiers.PostJSON(ctx, n.client, n.url.Reveal(), nil, body, secrets...)
	if err != nil {
		if hint := explain(err); hint != "" {
			return retry, fmt.Errorf("slack: post webhook: %w: %s", err, hint)
		}
		return retry, fmt.Errorf("slack: post webhook: %w", err)
	}
	return false, nil
}

// hints says what to do about each error Slack's incoming webhooks answer
// with (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks
// and the incoming webhooks reference). The body is the bare code.
var hints = map[string]string{
	"invalid_payload":                   "Slack could not read the message: report this as a bug in odoo-notify",
	"invalid_blocks":                    "Slack refused the message layout: report this as a bug in odoo-notify",
	"invalid_blocks_format":             "Slack refused the message layout: report this as a bug in odoo-notify",
	"no_text":                           "Slack found no text in the message: report this as a bug in odoo-notify",
	"too_many_attachments":              "Slack refused the message: report this as a bug in odoo-notify",
	"user_not_found":                    "the user this webhook posts to no longer exists: make a new webhook",
	"action_prohibited":                 "the workspace does not allow this webhook to post here: ask a Slack admin, or make a new webhook",
	"posting_to_general_channel_denied": "only admins may post to this channel: make a webhook for another channel",
	"channel_not_found":                 "the channel of this webhook no longer exists: make a new webhook and put its URL in webhook_url",
	"channel_is_archived":               "the channel of this webhook is archived: unarchive it or make a new webhook",
	"no_service":                        "the webhook was removed or disabled: make a new webhook and put its URL in webhook_url",
	"no_service_id":                     "the webhook URL is incomplete: copy it again from the Slack app's Incoming Webhooks page",
	"no_team":                           "the workspace of this webhook no longer exists: make a new webhook",
	"team_disabled":                     "the workspace of this webhook is disabled: make a new webhook",
	"invalid_token":                     "the webhook URL is wrong or revoked: copy it again from the Slack app's Incoming Webhooks page",
	"rate_limited":                      "Slack allows about one message per second per webhook: the report waits and is sent again",
	"rollup_error":                      "Slack had an internal error: the report is sent again",
	"missing_text_or_fallback_or_attachments": "Slack found no text in the message: report this as a bug in odoo-notify",
}

// explain returns what to fix for a Slack answer, or "" when there is
// nothing to add to the error.
func explain(err error) string {
	var se *notifiers.StatusError
	if !errors.As(err, &se) {
		return ""
	}
	if h, ok := hints[se.Body]; ok {
		return h
	}
	switch se.Code {
	case http.StatusTooManyRequests:
		return hints["rate_limited"]
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusGone:
		return "Slack does not accept this webhook URL: check webhook_url, or make a new webhook"
	}
	return ""
}
