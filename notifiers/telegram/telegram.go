// Package telegram sends a crash report to a Telegram chat through a bot's
// sendMessage (https://core.telegram.org/bots/api#sendmessage), formatted
// with parse_mode HTML. The bot token is part of every request's URL: it
// never appears in an error or a log line.
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/chat"
	"github.com/odoo-notify/odoo-notify/report"
)

// MaxText is sendMessage's limit: 4096 characters of text after entities
// parsing, counted in UTF-16 code units.
const MaxText = 4096

// Notifier sends reports to one chat.
type Notifier struct {
	token    config.Secret
	apiURL   string
	chatID   string
	threadID int
	client   *http.Client
}

// New returns a Notifier for the validated channel c. client carries the
// timeouts; it is shared by every channel of a run.
func New(c config.Telegram, client *http.Client) *Notifier {
	api := c.APIURL
	if api == "" {
		api = config.DefaultTelegramAPIURL
	}
	return &Notifier{token: c.BotToken, apiURL: strings.TrimRight(api, "/"), chatID: c.ChatID, threadID: c.MessageThreadID, client: client}
}

// String names the chat, never the token.
func (n *Notifier) String() string { return "telegram chat " + n.chatID }

// Markup is Telegram's HTML: &, < and > as entities; "@" broken so that a
// log line mentions nobody (inside <pre> Telegram finds no mentions).
var Markup = chat.Markup{
	Service: "Telegram",
	Text:    func(s string) string { return chat.Unmention(escape(s)) },
	Code:    escape,
	Bold:    func(s string) string { return "<b>" + s + "</b>" },
	Block:   func(s string) string { return "<pre>" + s + "</pre>" },
	Len:     textLen,
	Unit:    "characters",
}

// escape is what Telegram's HTML requires: only &, < and > (and " in
// attributes, which odoo-notify never writes).
func escape(s string) string { return escaper.Replace(s) }

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// textLen counts what Telegram counts: the text after entities parsing, so
// tags count nothing and an entity one character, in UTF-16 code units.
func textLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			if j := strings.IndexByte(s[i:], '>'); j >= 0 {
				i += j + 1
				continue
			}
		case '&':
			if j := strings.IndexByte(s[i:], ';'); j > 0 && j < 8 {
				n++
				i += j + 1
				continue
			}
		}
		j := i + 1
		for j < len(s) && s[j] != '<' && s[j] != '&' {
			j++
		}
		n += chat.UTF16(s[i:j])
		i = j
	}
	return n
}

// Render is the text of r's message.
func Render(r *report.Report) string { return Markup.Render(chat.New(r), MaxText) }

type sendMessage struct {
	ChatID          string `json:"chat_id"`
	MessageThreadID int    `json:"message_thread_id,omitempty"`
	Text            string `json:"text"`
	ParseMode       string `json:"parse_mode"`
	// A log line's URL must not unfold into a preview of someone's page.
	LinkPreview struct {
		IsDisabled bool `json:"is_disabled"`
	} `json:"link_preview_options"`
}

// answer is the Bot API's reply; on error its description says why and
// parameters may say how long to wait or where a group went.
type answer struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// Notify sends r. It returns retry=true for answers that may go away (429,
// 5xx, network errors); a 429 carries Telegram's retry_after.
func (n *Notifier) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	m := sendMessage{ChatID: n.chatID, MessageThreadID: n.threadID, Text: Render(r), ParseMode: "HTML"}
	m.LinkPreview.IsDisabled = true
	body, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("telegram: encode message: %w", err)
	}
	secrets := append(notifiers.URLSecrets(n.apiURL+"/bot"+n.token.Reveal()), n.token.Reveal())
	retry, err = notifiers.PostJSON(ctx, n.client, n.apiURL+"/bot"+n.token.Reveal()+"/sendMessage", nil, body, secrets...)
	if err != nil {
		return retry, fmt.Errorf("telegram: send message: %w", explain(err))
	}
	return false, nil
}

// explain puts the Bot API's description in the error, in place of its
// JSON, with what to fix; a 429 waits for parameters.retry_after.
func explain(err error) error {
	var se *notifiers.StatusError
	if !errors.As(err, &se) {
		return err
	}
	var a answer
	if json.Unmarshal(se.Detail, &a) != nil || a.Description == "" {
		if se.Code == http.StatusNotFound {
			return fmt.Errorf("%w: the Bot API does not know this bot: check bot_token (and api_url)", err)
		}
		return err
	}
	se.Body = report.OneLine(a.Description)
	var ra *notifiers.RetryAfterError
	if errors.As(err, &ra) && ra.After == 0 && a.Parameters.RetryAfter > 0 {
		ra.After = time.Duration(a.Parameters.RetryAfter) * time.Second
	}
	if h := hint(se.Code, a); h != "" {
		return fmt.Errorf("%w: %s", err, h)
	}
	return err
}

// hint says what to do about a Bot API error, or "".
func hint(code int, a answer) string {
	d := strings.ToLower(a.Description)
	switch {
	case a.Parameters.MigrateToChatID != 0:
		return fmt.Sprintf("the group became a supergroup: set chat_id = \"%d\"", a.Parameters.MigrateToChatID)
	case strings.Contains(d, "chat not found"):
		return "check chat_id, and that the bot is in the chat (add it to the group, or send it /start in a private chat)"
	case strings.Contains(d, "thread not found"):
		return "the forum topic is gone: check message_thread_id"
	case strings.Contains(d, "can't parse entities"), strings.Contains(d, "message is too long"), strings.Contains(d, "text must be non-empty"):
		return "Telegram refused the message: report this as a bug in odoo-notify"
	case strings.Contains(d, "blocked by the user"):
		return "the user blocked the bot: unblock it, or send it /start again"
	case strings.Contains(d, "kicked"), strings.Contains(d, "not a member"):
		return "the bot is no longer in the chat: add it again (in a channel, as an administrator that may post)"
	case strings.Contains(d, "not enough rights"), strings.Contains(d, "have no rights"):
		return "the bot may not post in this chat: give it the right to send messages"
	case code == http.StatusUnauthorized:
		return "the bot token is wrong or was revoked: copy it again from @BotFather into bot_token"
	case code == http.StatusNotFound:
		return "the Bot API does not know this bot: check bot_token (and api_url)"
	case code == http.StatusTooManyRequests:
		return "Telegram allows about one message a second per chat: the report waits and is sent again"
	}
	return ""
}
