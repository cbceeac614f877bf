// Package config reads odoo-notify's TOML file: defaults first, the file
// decoded over them, every problem reported at once so an admin fixes the
// file in one pass. Secrets have a *_file twin and never print.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/odoo-notify/odoo-notify/internal/lazyre"
)

// DefaultPath is where the packaged config file lives.
const DefaultPath = "/etc/odoo-notify/config.toml"

// Secret is a password, a webhook URL or a signing key. It prints as
// <secret> everywhere: fmt, slog, TOML output.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// MarshalText hides the value in check-config output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue hides the value from log/slog, whatever the handler: slog
// resolves a LogValuer before any handler sees the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString hides the value from %#v, which does not call String.
func (s Secret) GoString() string {
	if s == "" {
		return `config.Secret("")`
	}
	return `config.Secret("<secret>")`
}

// Reveal returns the secret itself, for the one place that must use it.
func (s Secret) Reveal() string { return string(s) }

// Duration is a time.Duration written as a string: "30s", "10m".
type Duration struct {
	time.Duration
	// invalid keeps text that did not parse, so Validate can report it with
	// its key alongside every other problem instead of stopping the decode.
	invalid string
}

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		d.invalid = string(b)
		if d.invalid == "" {
			d.invalid = `""`
		}
		return nil
	}
	d.Duration, d.invalid = v, ""
	return nil
}

// MarshalText writes the duration back as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Config is the whole file.
type Config struct {
	General General   `toml:"general"`
	Email   []Email   `toml:"email"`
	Slack   []Slack   `toml:"slack"`
	Webhook []Webhook `toml:"webhook"`
	// Chat services, one typed section each.
	Telegram   []Telegram   `toml:"telegram"`
	Teams      []Teams      `toml:"teams"`
	Ntfy       []Ntfy       `toml:"ntfy"`
	Discord    []Discord    `toml:"discord"`
	Mattermost []Mattermost `toml:"mattermost"`
	GoogleChat []GoogleChat `toml:"googlechat"`
	// Alertmanager sends incidents as alerts to a Prometheus Alertmanager
	// (every peer of an HA cluster).
	Alertmanager []Alertmanager `toml:"alertmanager"`
	Outbox       Outbox         `toml:"outbox"`
	Limits       Limits         `toml:"limits"`
	// Incidents says when an incident is over.
	Incidents Incidents `toml:"incidents"`
	// Watch is odoo-notify watch: how a running unit is probed, and what a
	// hang makes it do.
	Watch Watch `toml:"watch"`
	// Units holds per-unit settings, keyed by unit name ("odoo.service").
	Units map[string]Unit `toml:"units"`
	// Redact lists extra regular expressions whose matches are replaced by
	// <redacted> in every log line before it leaves the host.
	Redact []string `toml:"redact"`
}

// General holds settings for every run.
type General struct {
	// Hostname names the machine in reports; empty means os.Hostname().
	Hostname string `toml:"hostname"`
	// JournalLines is how many log lines of the failed run a report holds.
	JournalLines int `toml:"journal_lines"`
	// Timeout bounds a whole run, every channel and retry included. Keep it
	// below the handler unit's TimeoutStartSec.
	Timeout Duration `toml:"timeout"`
}

// Email is one [[email]] channel.
type Email struct {
	Name string `toml:"name"`
	Host string `toml:"host"`
	Port int    `toml:"port"`
	// Security is "starttls" (default, mandatory STARTTLS), "tls" (implicit
	// TLS, port 465) or "none" (plain text, for a local relay only).
	Security     string `toml:"security"`
	Username     string `toml:"username"`
	Password     Secret `toml:"password"`
	PasswordFile string `toml:"password_file"`
	// CAFile, when set, is a PEM file of the CAs that sign the server's
	// certificate (a private relay); otherwise the system's CAs are used.
	CAFile  string   `toml:"ca_file"`
	From    string   `toml:"from"`
	To      []string `toml:"to"`
	Timeout Duration `toml:"timeout"`
	Rate    float64  `toml:"rate"`
	Burst   int      `toml:"burst"`
}

// Slack is one [[slack]] channel: an incoming webhook (webhook_url), or a
// Slack app's bot (token and channel), which threads an incident's
// follow-ups under its opening message and edits that message to show the
// incident's state.
type Slack struct {
	Name           string `toml:"name"`
	WebhookURL     Secret `toml:"webhook_url"`
	WebhookURLFile string `toml:"webhook_url_file"`
	// Token is the app's bot token ("xoxb-..."), with the chat:write
	// scope; it is sent as a bearer token.
	Token     Secret `toml:"token"`
	TokenFile string `toml:"token_file"`
	// Channel is where the bot posts: a channel id ("C0123456789") or
	// name ("#ops"); the bot must be a member.
	Channel string `toml:"channel"`
	// APIURL is the Web API's base URL: Slack's by default, or a proxy.
	APIURL  string   `toml:"api_url"`
	Timeout Duration `toml:"timeout"`
	Rate    float64  `toml:"rate"`
	Burst   int      `toml:"burst"`
}

// Webhook is one [[webhook]] generic HTTP endpoint that receives the
// report's JSON.
type Webhook struct {
	Name    string            `toml:"name"`
	URL     Secret            `toml:"url"`
	URLFile string            `toml:"url_file"`
	Headers map[string]Secret `toml:"headers"`
	// Secret, when set, signs the body the Standard Webhooks way; it is
	// written as "whsec_<base64>".
	Secret     Secret `toml:"secret"`
	SecretFile string `toml:"secret_file"`
	// Template, when set, is a Go text/template that writes the body
	// instead of the report's JSON; its data is the report, and its
	// helpers escape for JSON (README, "Webhook templates").
	Template string `toml:"template"`
	// ContentType is the body's Content-Type; default application/json,
	// and a JSON body must then be valid JSON.
	ContentType string   `toml:"content_type"`
	Timeout     Duration `toml:"timeout"`
	Rate        float64  `toml:"rate"`
	Burst       int      `toml:"burst"`
}

// Telegram is one [[telegram]] channel: a bot's sendMessage to one chat.
type Telegram struct {
	Name string `toml:"name"`
	// BotToken is the token @BotFather gave ("123456:ABC-..."); it is a
	// part of every request's URL.
	BotToken     Secret `toml:"bot_token"`
	BotTokenFile string `toml:"bot_token_file"`
	// ChatID is the chat's numeric id ("-1001234567890") or a public
	// channel's "@name".
	ChatID string `toml:"chat_id"`
	// MessageThreadID sends into one topic of a forum supergroup.
	MessageThreadID int `toml:"message_thread_id"`
	// APIURL is the Bot API server; default https://api.telegram.org (a
	// local Bot API server, a proxy, tests).
	APIURL  string   `toml:"api_url"`
	Timeout Duration `toml:"timeout"`
	Rate    float64  `toml:"rate"`
	Burst   int      `toml:"burst"`
}

// Teams is one [[teams]] channel: a Microsoft Teams Workflows webhook
// ("Post to a channel when a webhook request is received") that receives
// an Adaptive Card. The URL carries its signature: it is the secret.
type Teams struct {
	Name           string   `toml:"name"`
	WebhookURL     Secret   `toml:"webhook_url"`
	WebhookURLFile string   `toml:"webhook_url_file"`
	Timeout        Duration `toml:"timeout"`
	Rate           float64  `toml:"rate"`
	Burst          int      `toml:"burst"`
}

// Ntfy is one [[ntfy]] channel: a push to a topic of an ntfy server.
type Ntfy struct {
	Name string `toml:"name"`
	// URL is the server; default https://ntfy.sh.
	URL   string `toml:"url"`
	Topic string `toml:"topic"`
	// Token is an access token ("tk_..."), sent as a bearer token.
	Token     Secret `toml:"token"`
	TokenFile string `toml:"token_file"`
	// Priority is "min", "low", "default", "high" (default) or "urgent",
	// or 1 to 5.
	Priority string   `toml:"priority"`
	Tags     []string `toml:"tags"`
	Timeout  Duration `toml:"timeout"`
	Rate     float64  `toml:"rate"`
	Burst    int      `toml:"burst"`
}

// Discord is one [[discord]] channel: a Discord webhook. The URL holds the
// webhook's token: it is the secret.
type Discord struct {
	Name           string `toml:"name"`
	WebhookURL     Secret `toml:"webhook_url"`
	WebhookURLFile string `toml:"webhook_url_file"`
	// Username overrides the webhook's name in the channel.
	Username string   `toml:"username"`
	Timeout  Duration `toml:"timeout"`
	Rate     float64  `toml:"rate"`
	Burst    int      `toml:"burst"`
}

// Mattermost is one [[mattermost]] channel: an incoming webhook. The URL
// holds the webhook's key: it is the secret.
type Mattermost struct {
	Name           string `toml:"name"`
	WebhookURL     Secret `toml:"webhook_url"`
	WebhookURLFile string `toml:"webhook_url_file"`
	// Channel and Username override the webhook's own, when the webhook
	// allows it.
	Channel  string   `toml:"channel"`
	Username string   `toml:"username"`
	Timeout  Duration `toml:"timeout"`
	Rate     float64  `toml:"rate"`
	Burst    int      `toml:"burst"`
}

// GoogleChat is one [[googlechat]] channel: a space's incoming webhook. Its
// URL's key and token are the secret.
type GoogleChat struct {
	Name           string   `toml:"name"`
	WebhookURL     Secret   `toml:"webhook_url"`
	WebhookURLFile string   `toml:"webhook_url_file"`
	Timeout        Duration `toml:"timeout"`
	Rate           float64  `toml:"rate"`
	Burst          int      `toml:"burst"`
}

// Alertmanager is one [[alertmanager]] channel: an incident is an alert
// posted to every peer of an Alertmanager cluster (POST /api/v2/alerts).
type Alertmanager struct {
	Name string `toml:"name"`
	// URLs are the peers, each "http(s)://host:9093" (with the route prefix,
	// if Alertmanager runs with --web.route-prefix): every alert goes to
	// every peer, as Alertmanager's HA clustering wants.
	URLs []string `toml:"urls"`
	// Username and Password are basic auth for a proxy in front;
	// BearerToken is the other way. At most one of the two.
	Username        string `toml:"username"`
	Password        Secret `toml:"password"`
	PasswordFile    string `toml:"password_file"`
	BearerToken     Secret `toml:"bearer_token"`
	BearerTokenFile string `toml:"bearer_token_file"`
	// CAFile is a PEM file of the CAs that sign the peers' certificates;
	// CertFile and KeyFile a client certificate (mutual TLS); ServerName
	// the name to verify when the URLs use an address.
	CAFile     string   `toml:"ca_file"`
	CertFile   string   `toml:"cert_file"`
	KeyFile    string   `toml:"key_file"`
	ServerName string   `toml:"server_name"`
	Timeout    Duration `toml:"timeout"`
	Rate       float64  `toml:"rate"`
	Burst      int      `toml:"burst"`
}

// Outbox holds what could not be delivered yet.
type Outbox struct {
	// MaxAge is how long an undelivered report is kept before it is
	// dropped with an error line in the journal.
	MaxAge Duration `toml:"max_age"`
}

// Limits keep a crash loop from flooding an inbox.
type Limits struct {
	// DedupWindow: the same unit failing the same way within it is counted,
	// not sent again.
	DedupWindow Duration `toml:"dedup_window"`
	// MaxReports per Per: at most that many reports for one unit.
	MaxReports int      `toml:"max_reports"`
	Per        Duration `toml:"per"`
}

// Incidents: a unit's first reported failure opens an incident, later ones
// update it, and it resolves with one recovery notice.
type Incidents struct {
	// StableAfter: the unit active that long with no new failure is back.
	StableAfter Duration `toml:"stable_after"`
	// RemindEvery, when set, sends a reminder that a unit is still down
	// (failed, or stopped) that often. Off by default.
	RemindEvery Duration `toml:"remind_every"`
}

// Watch holds the settings of odoo-notify watch.
type Watch struct {
	// HealthURL is probed with GET: an http(s) URL, or a path on Odoo's
	// address from odoo.conf. Empty: Odoo's /web/health there (Odoo >= 15).
	HealthURL string `toml:"health_url"`
	// Interval between probes; Timeout of one probe.
	Interval Duration `toml:"interval"`
	Timeout  Duration `toml:"timeout"`
	// StartGrace: a run that has not answered yet is not failing before it
	// has been active that long.
	StartGrace Duration `toml:"start_grace"`
	// Failures probes failing in a row are a hang.
	Failures int `toml:"failures"`
	// OnHang is "restart" or "report".
	OnHang string `toml:"on_hang"`
	// Degraded turns on the reading of Odoo's own limit events (worker
	// timeouts, memory limits, OOM kills, bursts of failed requests) in
	// the unit's lines; a pointer so that absent means true.
	Degraded *bool `toml:"degraded"`
	// DegradedWindow: at most one degraded notice per window per unit,
	// and a spell is over after a window without events.
	DegradedWindow Duration `toml:"degraded_window"`
	// ErrorsPerWindow: more failed requests than this within
	// DegradedWindow make a degraded spell.
	ErrorsPerWindow int `toml:"errors_per_window"`
}

// DegradedOn says whether watch reads the unit's lines for degraded spells
// (degraded = true, the default).
func (w Watch) DegradedOn() bool { return w.Degraded == nil || *w.Degraded }

// Unit holds settings for one watched unit.
type Unit struct {
	// LogFile is Odoo's own log file (--logfile / logfile =), read when the
	// journal holds little. Empty: found from the unit's ExecStart.
	LogFile string `toml:"log_file"`
	// OdooConf is Odoo's config file, read for logfile, workers and the
	// limit_* settings the hints quote. Empty: found from the unit's
	// ExecStart (-c/--config).
	OdooConf string `toml:"odoo_conf"`
}

// Default returns the settings used where the file says nothing. With no
// channel configured, reports go to the journal.
func Default() *Config {
	return &Config{
		General: General{JournalLines: 50, Timeout: Duration{Duration: 30 * time.Second}},
		Outbox:  Outbox{MaxAge: Duration{Duration: 24 * time.Hour}},
		Limits: Limits{
			DedupWindow: Duration{Duration: 10 * time.Minute},
			MaxReports:  5,
			Per:         Duration{Duration: time.Hour},
		},
		Incidents: Incidents{StableAfter: Duration{Duration: 2 * time.Minute}},
		Watch: Watch{
			Interval:   Duration{Duration: 10 * time.Second},
			Timeout:    Duration{Duration: 5 * time.Second},
			StartGrace: Duration{Duration: 60 * time.Second},
			Failures:   3,
			OnHang:     "restart",

			DegradedWindow:  Duration{Duration: 15 * time.Minute},
			ErrorsPerWindow: 10,
		},
	}
}

// Load reads and validates the file at path. Relative *_file paths are
// looked up in credDir ($CREDENTIALS_DIRECTORY) when it is set. The error
// lists every problem, each with its key.
func Load(path, credDir string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	c, err := Parse(bytes.NewReader(b))
	if c == nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	// Unknown keys and every other problem together, so one pass fixes all.
	if err := errors.Join(err, c.Validate(credDir)); err != nil {
		return c, fmt.Errorf("config: %s is invalid:\n%w", path, err)
	}
	return c, nil
}

// Parse decodes TOML over Default(). Syntax errors carry the line and give
// no config; keys the program does not know are errors (a typo must not
// silently disable a channel), returned with the config that the known keys
// make, so its other problems can be found too.
func Parse(r io.Reader) (*Config, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var errs []error
	// A value of the wrong type stops the decoder at the first one. Each is
	// reported, dropped, and the rest decoded again, so one wrong quote
	// does not hide every other problem.
	for range maxTypeErrors {
		c := Default()
		md, err := toml.NewDecoder(bytes.NewReader(src)).Decode(c)
		if err == nil {
			for _, k := range md.Undecoded() {
				errs = append(errs, fmt.Errorf("%s: unknown key", keyString(k)))
			}
			return c, errors.Join(errs...)
		}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("syntax error at line %d, column %d: %s", pe.Position.Line, pe.Position.Col, pe.Message)
		}
		key, msg, ok := typeError(err)
		if !ok {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("%s: %s", key, msg))
		if src, ok = dropKey(src, key); !ok {
			return nil, errors.Join(errs...)
		}
	}
	return nil, errors.Join(errs...)
}

// maxTypeErrors bounds the decode passes of a file full of wrong types.
const maxTypeErrors = 32

// typeErrorRE matches the decoder's "toml: line N (last key "K"): MSG".
var typeErrorRE = lazyre.New(`^toml: line \d+ \(last key "([^"]+)"\): (.*)$`)

// typeError pulls the key and a message an admin can act on out of a
// decoder type error.
func typeError(err error) (key, msg string, ok bool) {
	m := typeErrorRE.FindStringSubmatch(err.Error())
	if m == nil {
		return "", "", false
	}
	msg = m[2]
	if _, what, found := strings.Cut(msg, "TOML value has type "); found {
		got, want, _ := strings.Cut(what, "; destination has type ")
		msg = fmt.Sprintf("is a %s here but must be a%s %s (remove the quotes, or add them)", got, article(want), want)
	}
	return m[1], msg, true
}

func article(w string) string {
	if w != "" && strings.ContainsRune("aeiou", rune(w[0])) {
		return "n"
	}
	return ""
}

// dropKey removes the dotted key from the TOML document, in every table of
// an array of tables, and encodes the rest again.
func dropKey(src []byte, key string) ([]byte, bool) {
	var doc map[string]any
	if _, err := toml.Decode(string(src), &doc); err != nil {
		return nil, false
	}
	if !deleteKey(doc, strings.Split(key, ".")) {
		return nil, false
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(doc); err != nil {
		return nil, false
	}
	return b.Bytes(), true
}

func deleteKey(v any, path []string) bool {
	switch t := v.(type) {
	case map[string]any:
		if len(path) == 1 {
			_, ok := t[path[0]]
			delete(t, path[0])
			return ok
		}
		return deleteKey(t[path[0]], path[1:])
	case []map[string]any:
		found := false
		for _, m := range t {
			found = deleteKey(m, path) || found
		}
		return found
	case []any:
		found := false
		for _, m := range t {
			found = deleteKey(m, path) || found
		}
		return found
	}
	return false
}

// keyString writes a TOML key as an admin would look for it: email[0].host
// is not recoverable from toml.Key, so it is written with dots.
func keyString(k toml.Key) string {
	return strings.Join(k, ".")
}

// Encode writes the effective config as TOML; every secret shows as
// <secret>.
func (c *Config) Encode(w io.Writer) error {
	return toml.NewEncoder(w).Encode(c)
}

// readSecret fills *s from file when file is set. A relative path is looked
// up in credDir first (systemd LoadCredential=).
func readSecret(s *Secret, file, credDir string) error {
	if file == "" {
		return nil
	}
	p := file
	if !filepath.IsAbs(p) && credDir != "" {
		p = filepath.Join(credDir, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, errors.Unwrap(err))
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return fmt.Errorf("%s is empty", p)
	}
	*s = Secret(v)
	return nil
}
