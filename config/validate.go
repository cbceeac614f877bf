package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// Default per-channel settings.
const (
	DefaultChannelTimeout = 20 * time.Second
	DefaultSlackRate      = 1.0
	DefaultSlackBurst     = 3
	// A Slack app posts at most one message a second per channel
	// (chat.postMessage's limit), edits of the opening message aside.
	DefaultSlackAppRate  = 1.0
	DefaultSlackAppBurst = 1
	DefaultSlackAPIURL   = "https://slack.com/api/"
	// Chat services pace a bot or webhook at about one message a second
	// per chat (Telegram, Google Chat) or a few (Discord, Teams).
	DefaultChatRate       = 1.0
	DefaultChatBurst      = 3
	DefaultTelegramAPIURL = "https://api.telegram.org"
	DefaultNtfyURL        = "https://ntfy.sh"
	DefaultNtfyPriority   = "high"
)

var (
	telegramChatRE = lazyre.New(`^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$`)
	ntfyTopicRE    = lazyre.New(`^[-_A-Za-z0-9]{1,64}$`)
	// A bot token is "xoxb-" and dash-separated digits and letters.
	slackTokenRE = lazyre.New(`^xoxb-[0-9A-Za-z][-0-9A-Za-z]{8,}$`)
)

// slackChannel says whether s names a Slack channel: an id (C, G or D and
// at least 6 capitals and digits) or a #name (Slack names are lowercase
// letters, digits, - and _, and letters of any script, up to 80). Checked
// by hand: the regular expression's \p{L} cost every start of the binary
// 2 ms and 2.4 MB to compile.
func slackChannel(s string) bool {
	if name, ok := strings.CutPrefix(s, "#"); ok {
		n := 0
		for _, r := range name {
			if n++; n > 80 || !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || unicode.IsLetter(r)) {
				return false
			}
		}
		return n > 0
	}
	if len(s) < 7 || s[0] != 'C' && s[0] != 'G' && s[0] != 'D' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// NtfyPriorities are the priorities ntfy takes, by name and number.
var NtfyPriorities = map[string]int{
	"min": 1, "low": 2, "default": 3, "high": 4, "urgent": 5, "max": 5,
	"1": 1, "2": 2, "3": 3, "4": 4, "5": 5,
}

// The range of a channel's rate, in messages per second, when it is not 0.
const (
	MinRate = 1.0 / 86400 // one a day
	MaxRate = 1000
)

// Validate fills the defaults that depend on other keys, reads every *_file
// secret, and returns every problem at once, each with its key.
func (c *Config) Validate(credDir string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	secret := func(key string, s *Secret, file string, required bool) {
		switch {
		case *s != "" && file != "":
			bad(key, "set either %s or %s_file, not both", lastPart(key), lastPart(key))
		case file != "":
			if err := readSecret(s, file, credDir); err != nil {
				bad(key+"_file", "%v", err)
			}
		case required && *s == "":
			bad(key, "required (or %s_file)", lastPart(key))
		}
	}
	// url is a secret URL: required, one of the two, absolute http(s).
	urlSecret := func(key string, s *Secret, file string) {
		secret(key, s, file, true)
		if *s != "" {
			if err := checkURL(s.Reveal()); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	positive := func(key string, d Duration) {
		if d.invalid != "" {
			bad(key, "%q is not a duration: write it like \"30s\", \"10m\" or \"1h\"", d.invalid)
		} else if d.Duration <= 0 {
			bad(key, "must be a positive duration like \"30s\"")
		}
	}

	g := &c.General
	if g.JournalLines < 1 || g.JournalLines > 10000 {
		bad("general.journal_lines", "must be between 1 and 10000, not %d", g.JournalLines)
	}
	positive("general.timeout", g.Timeout)
	positive("outbox.max_age", c.Outbox.MaxAge)
	positive("limits.dedup_window", c.Limits.DedupWindow)
	positive("limits.per", c.Limits.Per)
	positive("incidents.stable_after", c.Incidents.StableAfter)
	w := c.Watch
	positive("watch.interval", w.Interval)
	positive("watch.timeout", w.Timeout)
	if w.Interval.invalid == "" && w.Timeout.invalid == "" && w.Timeout.Duration > w.Interval.Duration {
		bad("watch.timeout", "%s is longer than watch.interval (%s): a probe must end before the next", w.Timeout, w.Interval)
	}
	if w.StartGrace.invalid != "" || w.StartGrace.Duration < 0 {
		bad("watch.start_grace", "must be a duration like \"60s\" (0 counts failures from the start)")
	}
	if w.Failures < 1 || w.Failures > 100 {
		bad("watch.failures", "%d: give how many probes failing in a row are a hang, 1 to 100 (default 3)", w.Failures)
	}
	if w.OnHang != "restart" && w.OnHang != "report" {
		bad("watch.on_hang", "%q: must be \"restart\" (stop the hung unit fast and start it again) or \"report\" (leave it as it is)", w.OnHang)
	}
	if w.DegradedWindow.invalid != "" || w.DegradedWindow.Duration < 10*time.Second {
		bad("watch.degraded_window", "must be a duration of 10s or more, like \"15m\" (at most one degraded notice per window; a spell ends after a quiet window)")
	}
	if w.ErrorsPerWindow < 1 || w.ErrorsPerWindow > 100000 {
		bad("watch.errors_per_window", "%d: give how many failed requests within degraded_window are still normal, 1 to 100000 (default 10)", w.ErrorsPerWindow)
	}
	if u := w.HealthURL; u != "" && !strings.HasPrefix(u, "/") {
		if err := checkURL(u); err != nil {
			bad("watch.health_url", "%v; or give a path on Odoo's own address, like \"/web/login\"", err)
		}
	}
	if d := c.Incidents.RemindEvery; d.invalid != "" || d.Duration < 0 || (d.Duration > 0 && d.Duration < time.Minute) {
		bad("incidents.remind_every", "must be a duration of at least \"1m\" like \"4h\", or left out for no reminders")
	}
	if c.Limits.MaxReports < 1 {
		bad("limits.max_reports", "must be at least 1, not %d", c.Limits.MaxReports)
	}
	for i, p := range c.Redact {
		if _, err := regexp.Compile(p); err != nil {
			bad(fmt.Sprintf("redact[%d]", i), "not a regular expression: %v", err)
		}
	}

	names := map[string]string{}
	name := func(key string, n *string, kind string, i int) {
		if *n == "" {
			*n = fmt.Sprintf("%s[%d]", kind, i)
		}
		if prev, dup := names[*n]; dup {
			bad(key+".name", "%q is already the name of %s: names must be unique", *n, prev)
		}
		names[*n] = key
	}
	channel := func(key string, timeout *Duration, rate *float64, burst *int, defRate float64, defBurst int) {
		if timeout.Duration == 0 {
			timeout.Duration = DefaultChannelTimeout
		}
		positive(key+".timeout", *timeout)
		switch {
		case *rate < 0:
			bad(key+".rate", "must not be negative")
		case *rate > 0 && *rate < MinRate:
			bad(key+".rate", "%g messages per second is less than one a day: use at least %.6f, or 0 for no limit", *rate, MinRate)
		case *rate > MaxRate:
			bad(key+".rate", "%g messages per second is more than any server takes: use at most %g, or 0 for no limit", *rate, float64(MaxRate))
		}
		if *burst < 0 {
			bad(key+".burst", "must not be negative")
		}
		if *rate == 0 && *burst == 0 {
			*rate, *burst = defRate, defBurst
		}
		if *rate > 0 && *burst == 0 {
			*burst = 1
		}
	}

	for i := range c.Email {
		e := &c.Email[i]
		key := fmt.Sprintf("email[%d]", i)
		name(key, &e.Name, "email", i)
		channel(key, &e.Timeout, &e.Rate, &e.Burst, 0, 0)
		if e.Host == "" {
			bad(key+".host", "required: the SMTP server's name")
		}
		if e.Security == "" {
			e.Security = "starttls"
		}
		switch e.Security {
		case "starttls", "none":
			if e.Port == 0 {
				e.Port = 587
				if e.Security == "none" {
					e.Port = 25
				}
			}
		case "tls":
			if e.Port == 0 {
				e.Port = 465
			}
		default:
			bad(key+".security", "must be \"starttls\", \"tls\" or \"none\", not %q", e.Security)
		}
		if e.Port < 1 || e.Port > 65535 {
			bad(key+".port", "must be between 1 and 65535, not %d", e.Port)
		}
		secret(key+".password", &e.Password, e.PasswordFile, false)
		if e.Password != "" && e.Username == "" {
			bad(key+".username", "required when a password is set")
		}
		if e.From == "" {
			bad(key+".from", "required: the sender address")
		} else if _, err := mail.ParseAddress(e.From); err != nil {
			bad(key+".from", "%q is not a mail address", e.From)
		}
		if len(e.To) == 0 {
			bad(key+".to", "required: at least one recipient")
		}
		for j, to := range e.To {
			if _, err := mail.ParseAddress(to); err != nil {
				bad(fmt.Sprintf("%s.to[%d]", key, j), "%q is not a mail address", to)
			}
		}
	}
	for i := range c.Slack {
		s := &c.Slack[i]
		key := fmt.Sprintf("slack[%d]", i)
		name(key, &s.Name, "slack", i)
		app := s.Token != "" || s.TokenFile != ""
		hook := s.WebhookURL != "" || s.WebhookURLFile != ""
		switch {
		case app && hook:
			bad(key, "set either webhook_url (an incoming webhook) or token (a Slack app's bot), not both")
			continue
		case !app:
			channel(key, &s.Timeout, &s.Rate, &s.Burst, DefaultSlackRate, DefaultSlackBurst)
			secret(key+".webhook_url", &s.WebhookURL, s.WebhookURLFile, true)
			if s.WebhookURL != "" {
				if err := checkURL(s.WebhookURL.Reveal()); err != nil {
					bad(key+".webhook_url", "%v", err)
				}
			}
			if s.Channel != "" || s.APIURL != "" {
				bad(key, "channel and api_url belong to a Slack app (token): an incoming webhook posts where it was made")
			}
			continue
		}
		channel(key, &s.Timeout, &s.Rate, &s.Burst, DefaultSlackAppRate, DefaultSlackAppBurst)
		secret(key+".token", &s.Token, s.TokenFile, true)
		if s.Token != "" && !slackTokenRE.MatchString(s.Token.Reveal()) {
			bad(key+".token", "is not a bot token: copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page")
		}
		switch {
		case s.Channel == "":
			bad(key+".channel", "required with token: the channel's id (\"C0123456789\") or name (\"#ops\")")
		case !slackChannel(s.Channel):
			bad(key+".channel", "%q is not a channel: write its id (\"C0123456789\", in the channel's details) or its name (\"#ops\")", s.Channel)
		}
		if s.APIURL == "" {
			s.APIURL = DefaultSlackAPIURL
		} else if err := checkURL(s.APIURL); err != nil {
			bad(key+".api_url", "%v", err)
		}
	}
	for i := range c.Webhook {
		w := &c.Webhook[i]
		key := fmt.Sprintf("webhook[%d]", i)
		name(key, &w.Name, "webhook", i)
		channel(key, &w.Timeout, &w.Rate, &w.Burst, 0, 0)
		secret(key+".url", &w.URL, w.URLFile, true)
		if w.URL != "" {
			if err := checkURL(w.URL.Reveal()); err != nil {
				bad(key+".url", "%v", err)
			}
		}
		secret(key+".secret", &w.Secret, w.SecretFile, false)
		if w.Secret != "" {
			if err := checkWebhookSecret(w.Secret.Reveal()); err != nil {
				bad(key+".secret", "%v", err)
			}
		}
		for h := range w.Headers {
			if h == "" || strings.ContainsAny(h, " :\r\n") {
				bad(key+".headers", "%q is not a header name", h)
			}
		}
		if w.ContentType == "" {
			w.ContentType = "application/json"
		} else if _, _, err := mime.ParseMediaType(w.ContentType); err != nil || strings.ContainsAny(w.ContentType, "\r\n") {
			bad(key+".content_type", "%q is not a media type like \"application/json\"", w.ContentType)
		}
		if w.Template == "" && w.ContentType != "application/json" {
			bad(key+".content_type", "the report's JSON is sent as application/json: set a template to send %s", w.ContentType)
		}
	}
	for i := range c.Telegram {
		t := &c.Telegram[i]
		key := fmt.Sprintf("telegram[%d]", i)
		name(key, &t.Name, "telegram", i)
		channel(key, &t.Timeout, &t.Rate, &t.Burst, DefaultChatRate, DefaultChatBurst)
		secret(key+".bot_token", &t.BotToken, t.BotTokenFile, true)
		if t.BotToken != "" && !strings.Contains(t.BotToken.Reveal(), ":") || strings.ContainsAny(t.BotToken.Reveal(), "/?# \t") {
			bad(key+".bot_token", "is not a bot token: copy it from @BotFather, like 123456789:AA...")
		}
		switch {
		case t.ChatID == "":
			bad(key+".chat_id", "required: the chat's id, like \"-1001234567890\", or a channel's \"@name\"")
		case !telegramChatRE.MatchString(t.ChatID):
			bad(key+".chat_id", "%q is not a chat id: write the number (\"-1001234567890\") or a channel's \"@name\"", t.ChatID)
		}
		if t.MessageThreadID < 0 {
			bad(key+".message_thread_id", "must not be negative")
		}
		if t.APIURL == "" {
			t.APIURL = DefaultTelegramAPIURL
		} else if err := checkURL(t.APIURL); err != nil {
			bad(key+".api_url", "%v", err)
		}
	}
	for i := range c.Teams {
		t := &c.Teams[i]
		key := fmt.Sprintf("teams[%d]", i)
		name(key, &t.Name, "teams", i)
		channel(key, &t.Timeout, &t.Rate, &t.Burst, DefaultChatRate, DefaultChatBurst)
		urlSecret(key+".webhook_url", &t.WebhookURL, t.WebhookURLFile)
	}
	for i := range c.Ntfy {
		n := &c.Ntfy[i]
		key := fmt.Sprintf("ntfy[%d]", i)
		name(key, &n.Name, "ntfy", i)
		channel(key, &n.Timeout, &n.Rate, &n.Burst, DefaultChatRate, DefaultChatBurst)
		if n.URL == "" {
			n.URL = DefaultNtfyURL
		} else if err := checkURL(n.URL); err != nil {
			bad(key+".url", "%v", err)
		}
		switch {
		case n.Topic == "":
			bad(key+".topic", "required: the topic the phones subscribe to")
		case !ntfyTopicRE.MatchString(n.Topic):
			bad(key+".topic", "%q is not a topic: use up to 64 letters, digits, - and _", n.Topic)
		}
		secret(key+".token", &n.Token, n.TokenFile, false)
		if n.Priority == "" {
			n.Priority = DefaultNtfyPriority
		}
		if _, ok := NtfyPriorities[strings.ToLower(n.Priority)]; !ok {
			bad(key+".priority", "must be \"min\", \"low\", \"default\", \"high\" or \"urgent\" (or 1 to 5), not %q", n.Priority)
		}
		for j, tag := range n.Tags {
			if tag == "" || strings.ContainsAny(tag, ",\r\n") {
				bad(fmt.Sprintf("%s.tags[%d]", key, j), "%q is not a tag: one word or emoji short code, no comma", tag)
			}
		}
	}
	for i := range c.Discord {
		d := &c.Discord[i]
		key := fmt.Sprintf("discord[%d]", i)
		name(key, &d.Name, "discord", i)
		channel(key, &d.Timeout, &d.Rate, &d.Burst, DefaultChatRate, DefaultChatBurst)
		urlSecret(key+".webhook_url", &d.WebhookURL, d.WebhookURLFile)
		if n := len([]rune(d.Username)); n > 80 {
			bad(key+".username", "Discord takes at most 80 characters, not %d", n)
		}
	}
	for i := range c.Mattermost {
		m := &c.Mattermost[i]
		key := fmt.Sprintf("mattermost[%d]", i)
		name(key, &m.Name, "mattermost", i)
		channel(key, &m.Timeout, &m.Rate, &m.Burst, DefaultChatRate, DefaultChatBurst)
		urlSecret(key+".webhook_url", &m.WebhookURL, m.WebhookURLFile)
	}
	for i := range c.GoogleChat {
		g := &c.GoogleChat[i]
		key := fmt.Sprintf("googlechat[%d]", i)
		name(key, &g.Name, "googlechat", i)
		channel(key, &g.Timeout, &g.Rate, &g.Burst, DefaultChatRate, DefaultChatBurst)
		urlSecret(key+".webhook_url", &g.WebhookURL, g.WebhookURLFile)
	}
	for i := range c.Alertmanager {
		a := &c.Alertmanager[i]
		key := fmt.Sprintf("alertmanager[%d]", i)
		name(key, &a.Name, "alertmanager", i)
		channel(key, &a.Timeout, &a.Rate, &a.Burst, 0, 0)
		if len(a.URLs) == 0 {
			bad(key+".urls", "required: every peer of the Alertmanager cluster, like [\"http://am1:9093\", \"http://am2:9093\"]")
		}
		seen := map[string]bool{}
		for j, u := range a.URLs {
			k := fmt.Sprintf("%s.urls[%d]", key, j)
			if err := checkURL(u); err != nil {
				bad(k, "%v", err)
			} else if pu, _ := url.Parse(u); pu.User != nil || pu.RawQuery != "" {
				bad(k, "put no user, password or query in the URL: use username and password, or bearer_token")
			}
			if seen[u] {
				bad(k, "%q is listed twice", u)
			}
			seen[u] = true
		}
		secret(key+".password", &a.Password, a.PasswordFile, false)
		secret(key+".bearer_token", &a.BearerToken, a.BearerTokenFile, false)
		switch {
		case a.Password != "" && a.Username == "":
			bad(key+".username", "required when a password is set")
		case a.Username != "" && a.Password == "" && a.PasswordFile == "":
			bad(key+".password", "required when a username is set (or password_file)")
		}
		if a.Username != "" && (a.BearerToken != "" || a.BearerTokenFile != "") {
			bad(key+".bearer_token", "set either username and password or bearer_token, not both")
		}
		if (a.CertFile == "") != (a.KeyFile == "") {
			bad(key+".key_file", "cert_file and key_file go together: set both for a client certificate, or neither")
		}
	}
	if len(c.Units) > 0 {
		for u := range c.Units {
			if !strings.Contains(u, ".") {
				bad("units."+u, "name the full unit, like %q", u+".service")
			}
		}
	}
	return errors.Join(errs...)
}

// Channels counts the configured channels.
func (c *Config) Channels() int {
	return len(c.Email) + len(c.Slack) + len(c.Webhook) + len(c.Telegram) + len(c.Teams) +
		len(c.Ntfy) + len(c.Discord) + len(c.Mattermost) + len(c.GoogleChat) + len(c.Alertmanager)
}

// checkURL wants an absolute http(s) URL; its error never holds the URL.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http:// or https:// URL")
	}
	return nil
}

// checkWebhookSecret wants "whsec_" and base64, as Standard Webhooks does.
func checkWebhookSecret(s string) error {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return errors.New("must start with \"whsec_\" followed by base64 (Standard Webhooks)")
	}
	if k, err := base64.StdEncoding.DecodeString(b64); err != nil || len(k) < 16 {
		return errors.New("after \"whsec_\" must come at least 16 bytes in base64 (openssl rand -base64 32)")
	}
	return nil
}

func lastPart(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[i+1:]
	}
	return key
}

// WebhookKey decodes a validated "whsec_<base64>" secret into the HMAC key.
func WebhookKey(s Secret) ([]byte, error) {
	b64, _ := strings.CutPrefix(s.Reveal(), "whsec_")
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("webhook secret: not base64 after \"whsec_\"")
	}
	return k, nil
}

// HasInlineSecrets says whether the file itself holds a secret (rather than
// naming a *_file), so that check-config can warn when others can read it.
func (c *Config) HasInlineSecrets() bool {
	for _, e := range c.Email {
		if e.Password != "" && e.PasswordFile == "" {
			return true
		}
	}
	for _, s := range c.Slack {
		if (s.WebhookURL != "" && s.WebhookURLFile == "") || (s.Token != "" && s.TokenFile == "") {
			return true
		}
	}
	for _, w := range c.Webhook {
		if (w.URL != "" && w.URLFile == "") || (w.Secret != "" && w.SecretFile == "") || len(w.Headers) > 0 {
			return true
		}
	}
	for _, t := range c.Telegram {
		if t.BotToken != "" && t.BotTokenFile == "" {
			return true
		}
	}
	for _, n := range c.Ntfy {
		if n.Token != "" && n.TokenFile == "" {
			return true
		}
	}
	inline := func(s Secret, file string) bool { return s != "" && file == "" }
	for _, t := range c.Teams {
		if inline(t.WebhookURL, t.WebhookURLFile) {
			return true
		}
	}
	for _, d := range c.Discord {
		if inline(d.WebhookURL, d.WebhookURLFile) {
			return true
		}
	}
	for _, m := range c.Mattermost {
		if inline(m.WebhookURL, m.WebhookURLFile) {
			return true
		}
	}
	for _, g := range c.GoogleChat {
		if inline(g.WebhookURL, g.WebhookURLFile) {
			return true
		}
	}
	for _, a := range c.Alertmanager {
		if inline(a.Password, a.PasswordFile) || inline(a.BearerToken, a.BearerTokenFile) {
			return true
		}
	}
	return false
}
