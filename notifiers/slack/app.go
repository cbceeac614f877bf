package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
)

// Threads keeps, for each incident on a Slack app channel, where its
// opening message is (the parent) and what the thread got: every dispatch is
// its own process, and a follow-up sent by the next one must find the
// parent. Records are opaque bytes, saved under the incident's thread id.
type Threads interface {
	// LoadThread returns the record saved under id, or nil when there is
	// none.
	LoadThread(ctx context.Context, id string) ([]byte, error)
	// UpdateThread replaces the record under id with what change makes of
	// the one saved (nil when there is none), under a lock that every
	// process shares; change returning nil leaves it as it is.
	UpdateThread(ctx context.Context, id string, change func(old []byte) ([]byte, error)) error
}

// App posts reports as a Slack app's bot, through the Web API: an
// incident's opening report is a message (the parent), its updates,
// reminders and recovery notice are replies in the parent's thread, and the
// parent is edited after each to show the incident's state now.
type App struct {
	channel string
	api     *slack.Client
	threads Threads
	token   config.Secret
	apiURL  string
	// Log gets what does not fail a delivery: a parent that could not be
	// edited or remembered.
	Log *slog.Logger
	// Location is the zone the parent's times are shown in (the host's).
	Location *time.Location
}

// NewApp returns an App for the validated channel c. threads may be nil
// (the state folder cannot be opened): every follow-up is then a message of
// its own that names its incident.
func NewApp(c config.Slack, client *http.Client, threads Threads) *App {
	api := strings.TrimRight(c.APIURL, "/") + "/"
	a := &App{channel: c.Channel, threads: threads, token: c.Token, apiURL: api, Location: time.Local}
	// The client gets no token: bearer puts it in the Authorization header,
	// so slack-go never holds it (and cannot print it).
	a.api = slack.New("", slack.OptionAPIURL(api), slack.OptionHTTPClient(bearer{token: c.Token, client: client}))
	return a
}

// String names the channel and the API's host, never the token.
func (a *App) String() string {
	return "slack app " + a.channel + " via " + notifiers.RedactURL(a.apiURL)
}

func (a *App) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.New(slog.DiscardHandler)
}

// thread is what is remembered of one incident's parent message.
type thread struct {
	// Channel and TS are where Slack put the parent: the channel's id
	// (chat.update takes no name) and the message's ts.
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	// Title, Text and Blocks are the parent as posted, so that an edit
	// changes its state line and nothing else.
	Title  string          `json:"title"`
	Text   string          `json:"text"`
	Blocks json.RawMessage `json:"blocks"`
	// Shown is the incident state the parent shows now.
	Shown shown `json:"shown"`
	// Replies are the follow-ups posted in the thread, by report id, each
	// with its ts: a follow-up sent again is not posted twice.
	Replies map[string]string `json:"replies,omitempty"`
}

// shown orders the states a parent may show: a later one is never
// replaced by an earlier one that arrives late.
type shown struct {
	Resolved bool `json:"resolved,omitempty"`
	Failures int  `json:"failures"`
}

func (s shown) after(o shown) bool {
	if s.Resolved != o.Resolved {
		return s.Resolved
	}
	return s.Failures > o.Failures
}

func shownOf(in *report.Incident) shown {
	return shown{Resolved: in.State == "resolved", Failures: in.Failures}
}

// stateBlockID marks the parent's state line, the block an edit replaces.
const stateBlockID = "incident_state"

// Notify posts r. An incident's opening is posted as the parent and
// remembered; a follow-up is posted in the parent's thread, then the parent
// is edited. A report sent again (the outbox's redelivery) is not posted
// twice. Slack's final answers return retry=false with what to fix.
func (a *App) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	in := r.Incident
	switch {
	case in != nil && r.IsFollowUp() && in.ThreadID != "":
		return a.followUp(ctx, r)
	case in != nil && (r.Event == report.EventFiring || r.Event == ""):
		return a.open(ctx, r)
	}
	m := Render(r)
	_, _, err = a.post(ctx, m, "")
	return a.failed("post message", err)
}

// open posts an incident's opening report as the parent of its thread.
func (a *App) open(ctx context.Context, r *report.Report) (bool, error) {
	if t := a.load(ctx, r.ID); t != nil {
		return false, nil // posted already, by a run that was cut short after
	}
	title := report.ValidUTF8(r.Title())
	m := render(r, a.stateBlock(r.Incident))
	channel, ts, err := a.post(ctx, m, "")
	if err != nil {
		return a.failed("post message", err)
	}
	blocks, err := json.Marshal(m.Blocks.BlockSet)
	if err != nil {
		a.log().Warn("slack: the incident's message is posted but cannot be remembered: its follow-ups are posted as messages of their own", "incident", r.Incident.ID, "error", err)
		return false, nil
	}
	t := &thread{Channel: channel, TS: ts, Title: title, Text: m.Text, Blocks: blocks, Shown: shownOf(r.Incident)}
	if err := a.save(ctx, r.ID, func(old *thread) *thread { return t }); err != nil {
		// The message is out: sending it again would make two parents.
		a.log().Warn("slack: the incident's message is posted but cannot be remembered: its follow-ups are posted as messages of their own", "incident", r.Incident.ID, "error", err)
	}
	return false, nil
}

// followUp posts r in its incident's thread, then edits the parent to show
// the incident's state. Without a known parent (a state folder lost or
// unwritable) r is posted as a message of its own, which names its incident.
func (a *App) followUp(ctx context.Context, r *report.Report) (bool, error) {
	id := r.Incident.ThreadID
	t := a.load(ctx, id)
	if t == nil {
		_, _, err := a.post(ctx, Render(r), "")
		return a.failed("post message", err)
	}
	if _, done := t.Replies[r.ID]; !done {
		_, ts, err := a.post(ctx, Render(r), t.TS)
		if err != nil {
			return a.failed("post reply", err)
		}
		err = a.save(ctx, id, func(old *thread) *thread {
			if old == nil {
				return nil
			}
			if old.Replies == nil {
				old.Replies = map[string]string{}
			}
			old.Replies[r.ID] = ts
			return old
		})
		if err != nil {
			a.log().Warn("slack: the reply is posted but cannot be remembered: if it is sent again, the thread shows it twice", "incident", r.Incident.ID, "error", err)
		}
	}
	now := shownOf(r.Incident)
	if !now.after(t.Shown) {
		return false, nil // the parent shows this state, or a later one
	}
	if err := a.edit(ctx, t, r.Incident); err != nil {
		retry, err := a.failed("update the incident's message", err)
		if retry {
			// The reply is remembered: the next attempt only edits.
			return true, err
		}
		a.log().Warn("slack: the reply is posted, but the incident's message cannot be edited", "incident", r.Incident.ID, "error", err)
		return false, nil
	}
	err := a.save(ctx, id, func(old *thread) *thread {
		if old == nil || !now.after(old.Shown) {
			return nil
		}
		old.Shown = now
		return old
	})
	if err != nil {
		a.log().Warn("slack: the incident's message is edited but its state cannot be remembered", "incident", r.Incident.ID, "error", err)
	}
	return false, nil
}

// edit replaces the parent's state line (and, once resolved, its title)
// with in's state now.
func (a *App) edit(ctx context.Context, t *thread, in *report.Incident) error {
	var blocks slack.Blocks
	if err := json.Unmarshal(t.Blocks, &blocks); err != nil {
		return fmt.Errorf("the remembered message cannot be read: %w", err)
	}
	title := t.Title
	if in.State == "resolved" {
		title = "[RESOLVED] " + title
	}
	for i, b := range blocks.BlockSet {
		switch {
		case b.ID() == stateBlockID:
			blocks.BlockSet[i] = a.stateBlock(in)
		case i == 0 && b.BlockType() == slack.MBTHeader:
			blocks.BlockSet[i] = header(title)
		}
	}
	_, _, _, err := a.api.UpdateMessageContext(ctx, t.Channel, t.TS,
		slack.MsgOptionText(esc(title), false),
		slack.MsgOptionBlocks(blocks.BlockSet...),
	)
	return err
}

// post sends m to the channel, in the thread of parent when it is set, and
// returns where Slack put it.
func (a *App) post(ctx context.Context, m slack.WebhookMessage, parent string) (channel, ts string, err error) {
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.Text, false),
		slack.MsgOptionBlocks(m.Blocks.BlockSet...),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
	if parent != "" {
		opts = append(opts, slack.MsgOptionTS(parent))
	}
	channel, ts, err = a.api.PostMessageContext(ctx, a.channel, opts...)
	if err == nil && (channel == "" || ts == "") {
		// A proxy that answers 200 with something else than Slack's
		// answer: the message may not be out.
		err = errors.New("the answer holds no channel and ts: check api_url")
	}
	return channel, ts, err
}

// stateBlock is the parent's line saying the incident's state now:
// "Failing since 10:25 (2026-03-14): 3 failures, the last at 10:29", later
// "Recovered at 10:32, after 7 min: 3 failures".
func (a *App) stateBlock(in *report.Incident) slack.Block {
	loc := a.Location
	if loc == nil {
		loc = time.UTC
	}
	clock := func(t time.Time) string { return t.In(loc).Format("15:04") }
	var s string
	switch {
	case in == nil:
		return nil
	case in.State == "resolved":
		back := in.RunningSince
		if back.IsZero() {
			back = in.Resolved
		}
		s = fmt.Sprintf(":large_green_circle: *Recovered* at %s, after %s: %s", clock(back), report.Span(later(back, in.LastFailure).Sub(in.Opened)), failures(in.Failures))
	default:
		s = fmt.Sprintf(":red_circle: *Failing* since %s (%s): %s", clock(in.Opened), in.Opened.In(loc).Format("2006-01-02"), failures(in.Failures))
		if in.Failures > 1 && !in.LastFailure.IsZero() {
			s += ", the last at " + clock(in.LastFailure)
		}
	}
	if in.Causes != "" {
		s += " (" + esc(in.Causes) + ")"
	}
	s += "\nIncident `" + esc(in.ID) + "`: updates are in the thread."
	b := section(s)
	b.BlockID = stateBlockID
	return b
}

func failures(n int) string {
	if n == 1 {
		return "1 failure"
	}
	return fmt.Sprintf("%d failures", n)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// load reads the thread saved under id; nil when there is none or it cannot
// be read (the follow-up is then posted as a message of its own).
func (a *App) load(ctx context.Context, id string) *thread {
	if a.threads == nil || id == "" {
		return nil
	}
	b, err := a.threads.LoadThread(ctx, id)
	if err != nil {
		a.log().Warn("slack: cannot read where the incident's message is: posting on its own", "error", err)
		return nil
	}
	if b == nil {
		return nil
	}
	var t thread
	if err := json.Unmarshal(b, &t); err != nil || t.TS == "" {
		a.log().Warn("slack: the record of the incident's message cannot be read: posting on its own", "error", err)
		return nil
	}
	return &t
}

// save changes the thread saved under id with change (nil: no change).
func (a *App) save(ctx context.Context, id string, change func(old *thread) *thread) error {
	if a.threads == nil || id == "" {
		return nil
	}
	return a.threads.UpdateThread(ctx, id, func(old []byte) ([]byte, error) {
		var t *thread
		if old != nil {
			t = &thread{}
			if err := json.Unmarshal(old, t); err != nil {
				t = nil
			}
		}
		t = change(t)
		if t == nil {
			return nil, nil
		}
		return json.Marshal(t)
	})
}

// failed classifies what the Web API answered: ok; 429 and "ratelimited"
// after Retry-After; 5xx, Slack's internal errors and network errors back
// off; every other answer is final and says what to fix.
func (a *App) failed(op string, err error) (retry bool, _ error) {
	if err == nil {
		return false, nil
	}
	secrets := []string{a.token.Reveal()}
	wrap := func(err error, hint string) error {
		if hint != "" {
			err = fmt.Errorf("slack: %s: %w: %s", op, err, hint)
		} else {
			err = fmt.Errorf("slack: %s: %w", op, err)
		}
		return notifiers.Scrub(err, secrets...)
	}
	var (
		rl     *slack.RateLimitedError
		status slack.StatusCodeError
		answer slack.SlackErrorResponse
		uerr   *url.Error
	)
	switch {
	case errors.As(err, &rl):
		return true, &notifiers.RetryAfterError{After: rl.RetryAfter, Err: wrap(err, appHints["ratelimited"])}
	case errors.As(err, &status):
		se := &notifiers.StatusError{Code: status.Code}
		switch {
		case status.Code == http.StatusTooManyRequests:
			return true, &notifiers.RetryAfterError{Err: wrap(se, appHints["ratelimited"])}
		case status.Code == http.StatusRequestTimeout || status.Code >= 500:
			return true, wrap(se, "")
		}
		return false, wrap(se, "check api_url: Slack's is "+config.DefaultSlackAPIURL)
	case errors.As(err, &answer):
		code := answer.Err
		e := fmt.Errorf("%s", code)
		switch code {
		case "ratelimited", "rate_limited":
			return true, &notifiers.RetryAfterError{After: time.Second, Err: wrap(e, appHints["ratelimited"])}
		case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org":
			return true, wrap(e, "Slack had an internal error: the report is sent again")
		case "missing_scope":
			h := "the app lacks the chat:write scope"
			if answer.Provided != "" {
				h += " (it has " + answer.Provided + ")"
			}
			return false, wrap(e, h+": add chat:write under OAuth & Permissions, reinstall the app and put the new token in token (or token_file)")
		}
		return false, wrap(e, strings.ReplaceAll(appHints[code], "CHANNEL", a.channel))
	case errors.As(err, &uerr):
		inner := notifiers.RedactNetErr(err)
		return !notifiers.PermanentNetErr(inner), wrap(fmt.Errorf("post to %s: %w", notifiers.RedactURL(a.apiURL), inner), "")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true, wrap(err, "")
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
		// A 200 that is not Slack's JSON: a proxy's page.
		return true, wrap(fmt.Errorf("the answer is not Slack's: %w", err), "check api_url: Slack's is "+config.DefaultSlackAPIURL)
	}
	return true, wrap(err, "")
}

// appHints says what to fix in Slack for each final answer of
// chat.postMessage and chat.update
// (https://docs.slack.dev/reference/methods/chat.postMessage).
var appHints = map[string]string{
	"not_in_channel":      "the bot is not a member of CHANNEL: invite it there (/invite @yourbot in CHANNEL)",
	"channel_not_found":   "Slack knows no channel CHANNEL: check channel (its id is in the channel's details), and for a private channel invite the bot (/invite @yourbot)",
	"is_archived":         "CHANNEL is archived: unarchive it, or set channel to another one",
	"invalid_auth":        "Slack does not accept the token: copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page into token (or token_file)",
	"not_authed":          "no token reached Slack: check token (or token_file), and that a proxy at api_url passes the Authorization header",
	"token_revoked":       "the token was revoked (the app was uninstalled or the token rotated): reinstall the app and put its new Bot User OAuth Token in token (or token_file)",
	"token_expired":       "the token expired (token rotation is on): use a bot token that does not expire, or turn rotation off for the app",
	"account_inactive":    "the bot's user or workspace was deactivated: reinstall the app and put its new token in token (or token_file)",
	"no_permission":       "the app may not post there: ask a Slack admin, or set channel to another one",
	"restricted_action":   "a workspace setting keeps the bot from posting in CHANNEL: ask a Slack admin",
	"ekm_access_denied":   "Slack admins suspended posting: ask a Slack admin",
	"msg_too_long":        "Slack refused the message's length: report this as a bug in odoo-notify",
	"invalid_blocks":      "Slack refused the message layout: report this as a bug in odoo-notify",
	"no_text":             "Slack found no text in the message: report this as a bug in odoo-notify",
	"message_not_found":   "the incident's message was deleted: the thread goes on without it",
	"cant_update_message": "the incident's message was posted by another app or user: it cannot be edited",
	"edit_window_closed":  "the workspace no longer allows the incident's message to be edited",
	"ratelimited":         "Slack allows about one message per second per channel: the report waits and is sent again",
	"invalid_arguments":   "Slack refused the request: report this as a bug in odoo-notify",
}

// bearer sends the bot token in the Authorization header, as Slack's
// documentation asks: slack-go's chat methods put it in the form body
// instead, where any proxy that logs bodies would keep it.
type bearer struct {
	token  config.Secret
	client *http.Client
}

func (b bearer) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		form.Del("token")
		enc := form.Encode()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(strings.NewReader(enc))
		req.ContentLength = int64(len(enc))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(enc)), nil }
	} else {
		req = req.Clone(req.Context())
	}
	req.Header.Set("Authorization", "Bearer "+b.token.Reveal())
	req.Header.Set("User-Agent", "odoo-notify")
	return b.client.Do(req)
}
