// Package teams posts a crash report to a Microsoft Teams channel through a
// Workflows webhook ("Post to a channel when a webhook request is
// received"), as an Adaptive Card
// (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook).
// A card mentions someone only through msteams.entities, which odoo-notify
// never sends, so log text mentions nobody. The webhook URL carries its
// signature (sig=): it never appears in an error or a log line.
package teams

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

// MaxBody bounds the posted JSON. Teams refuses a message whose properties
// exceed 28,672 bytes, and it measures them about a fifth larger than the
// body posted (a 24,453-byte body came out at 28,897:
// MicrosoftDocs/msteams-docs#11274), so the body stays well under that.
const MaxBody = 22000

// Notifier posts reports to one Workflows webhook.
type Notifier struct {
	url    config.Secret
	client *http.Client
}

// New returns a Notifier for the validated channel c. client carries the
// timeouts; it is shared by every channel of a run.
func New(c config.Teams, client *http.Client) *Notifier {
	return &Notifier{url: c.WebhookURL, client: client}
}

// String names the webhook by its host alone.
func (n *Notifier) String() string { return "teams workflow " + notifiers.RedactURL(n.url.Reveal()) }

// Card is an Adaptive Card element: a TextBlock, a FactSet or the card.
type Card map[string]any

type message struct {
	Type        string       `json:"type"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	ContentType string `json:"contentType"`
	ContentURL  any    `json:"contentUrl"`
	Content     Card   `json:"content"`
}

// Render is the message posted for r: one Adaptive Card with the title, the
// facts and the newest log lines that fit MaxBody, saying what it left out.
func Render(r *report.Report) ([]byte, error) {
	m := chat.New(r)
	lines := make([]string, len(m.Lines))
	for i, l := range m.Lines {
		lines[i] = esc(report.TruncateRunes(l, 1000))
	}
	size := func(b []byte, err error) int {
		if err != nil {
			return MaxBody + 1
		}
		return len(b)
	}
	for drop := 0; ; drop++ {
		build := func(k int) ([]byte, error) { return json.Marshal(envelope(card(m, lines, k, drop))) }
		if k := chat.Fit(len(lines), MaxBody, func(k int) int { return size(build(k)) }); k >= 0 {
			return build(k)
		}
		if drop > len(m.Paragraphs)+len(m.After)+1 {
			return nil, fmt.Errorf("teams: the card does not fit %d bytes", MaxBody)
		}
	}
}

func envelope(c Card) message {
	return message{Type: "message", Attachments: []attachment{{
		ContentType: "application/vnd.microsoft.card.adaptive",
		Content:     c,
	}}}
}

// card builds the card with the newest k lines; drop leaves out that many
// parts above the facts and below them, for a report whose text alone does
// not fit.
func card(m chat.Message, lines []string, k, drop int) Card {
	text := func(s string, extra Card) Card {
		c := Card{"type": "TextBlock", "text": s, "wrap": true}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	color := "Attention"
	switch m.Event {
	case report.EventTest:
		color = "Accent"
	case report.EventResolved:
		color = "Good"
	}
	if strings.HasPrefix(m.Title, "[TEST]") {
		color = "Accent"
	}
	body := []Card{text(esc(m.Title), Card{"size": "Medium", "weight": "Bolder", "color": color})}
	paras, after := m.Paragraphs, m.After
	if drop > 0 {
		after = after[:max(len(after)-drop, 0)]
		if d := drop - len(m.After); d > 0 {
			paras = paras[:max(len(paras)-d, 0)]
		}
	}
	for _, p := range paras {
		body = append(body, text(esc(p), nil))
	}
	if len(m.Facts) > 0 {
		var facts []Card
		for _, f := range m.Facts {
			facts = append(facts, Card{"title": f[0], "value": esc(f[1])})
		}
		body = append(body, Card{"type": "FactSet", "facts": facts})
	}
	for _, p := range after {
		body = append(body, text(esc(p), Card{"isSubtle": true}))
	}
	if drop > 0 {
		body = append(body, text(fmt.Sprintf("… %d more part(s) of the report not shown (cut to fit Teams' limit)", len(m.Paragraphs)+len(m.After)-len(paras)-len(after)), Card{"isSubtle": true}))
	}
	if m.LogHeading != "" {
		body = append(body, text(esc(m.LogHeading), Card{"weight": "Bolder"}))
	}
	if hidden := len(lines) - k; hidden > 0 {
		body = append(body, text(fmt.Sprintf("… %d earlier line(s) not shown (cut to fit Teams' limit of about 28 KB)", hidden), Card{"isSubtle": true}))
	}
	for _, l := range lines[len(lines)-k:] {
		body = append(body, text(l, Card{"fontType": "Monospace", "size": "Small", "spacing": "None"}))
	}
	return Card{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"msteams": Card{"width": "Full"},
		"body":    body,
	}
}

// esc keeps a TextBlock's Markdown from making links out of log text: a
// "[text](url)" is broken between its parts. Mentions need
// msteams.entities, and none are sent.
func esc(s string) string {
	return strings.ReplaceAll(s, "](", "]\u200b(")
}

// answer is the error body of a Workflows (Logic Apps) trigger.
type answer struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Notify posts r. It returns retry=true for answers that may go away (408,
// 429, 5xx, network errors); a 429 carries Retry-After.
func (n *Notifier) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	body, err := Render(r)
	if err != nil {
		return false, err
	}
	secrets := urlSecrets(n.url.Reveal())
	retry, err = notifiers.PostJSON(ctx, n.client, n.url.Reveal(), nil, body, secrets...)
	if err != nil {
		return retry, fmt.Errorf("teams: post workflow: %w", explain(err))
	}
	return false, nil
}

// urlSecrets are the parts of a Workflows URL to hide: notifiers.URLSecrets
// but for the words of the path ("triggers", "manual", "invoke"), which
// would hide the workflow's own error messages; the workflow's id stays
// hidden.
func urlSecrets(raw string) []string {
	var s []string
	for _, p := range notifiers.URLSecrets(raw) {
		if len(p) >= 16 || strings.ContainsAny(p, "0123456789=&%/") {
			s = append(s, p)
		}
	}
	return s
}

// explain puts the workflow's error code and message in the error, in place
// of its JSON, with what to fix.
func explain(err error) error {
	var se *notifiers.StatusError
	if !errors.As(err, &se) {
		return err
	}
	var a answer
	if json.Unmarshal(se.Detail, &a) == nil && a.Error.Code != "" {
		se.Body = report.OneLine(a.Error.Code + ": " + a.Error.Message)
	}
	for _, h := range hints {
		if strings.Contains(a.Error.Code, h[0]) {
			return fmt.Errorf("%w: %s", err, h[1])
		}
	}
	switch se.Code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return fmt.Errorf("%w: the workflow does not accept this URL: copy it again from the workflow's trigger, or make the workflow again", err)
	case http.StatusTooManyRequests:
		return fmt.Errorf("%w: the workflow is throttled: the report waits and is sent again", err)
	}
	return err
}

// hints by the workflow's error code, the first that matches.
var hints = [][2]string{
	{"WorkflowNotFound", "the workflow was deleted: make it again in Teams and put its URL in webhook_url"},
	{"WorkflowTriggerIsNotEnabled", "the workflow is turned off: turn it on in Power Automate"},
	{"DirectApiAuthorizationRequired", "the URL lacks its signature: copy the whole URL, sig= included, from the workflow's trigger"},
	{"DirectApiInvalidAuthorizationSignature", "the URL's signature is wrong or was regenerated: copy the URL again from the workflow's trigger"},
	{"MisMatchingOAuthClaims", "the workflow accepts only signed-in callers: set its trigger's \"Who can trigger the flow\" to Anyone"},
	{"InvalidRequestContent", "the workflow could not read the card: report this as a bug in odoo-notify"},
	{"TriggerInputSchemaMismatch", "the workflow expects another body: use the \"Post to a channel when a webhook request is received\" template"},
	{"Throttled", "the workflow is throttled: the report waits and is sent again"},
}
