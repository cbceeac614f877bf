package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Compile-time: slog calls LogValue only on a slog.LogValuer.
var _ slog.LogValuer = Secret("")

// secretsFile sets every secret a config can hold, each to a value that
// must never show.
const secretsFile = `
[[email]]
host = "smtp.example.com"
username = "alerts"
password = "S3-email-password"
from = "a@example.com"
to = ["ops@example.com"]

[[slack]]
webhook_url = "https://hooks.slack.com/services/T0/B0/S3-slack-url"

[[webhook]]
url = "https://alerts.example.com/hook?token=S3-webhook-url"
secret = "whsec_UzMtd2ViaG9vay1zaWduaW5nLWtleQ=="
[webhook.headers]
Authorization = "Bearer S3-header"

[[telegram]]
bot_token = "123456:S3-telegram-token"
chat_id = "-1001234567890"

[[teams]]
webhook_url = "https://prod.westeurope.logic.azure.com/workflows/S3-teams-url"

[[ntfy]]
topic = "odoo-erp1"
token = "tk_S3-ntfy-token"

[[discord]]
webhook_url = "https://discord.com/api/webhooks/1/S3-discord-url"

[[mattermost]]
webhook_url = "https://mm.example.com/hooks/S3-mattermost-url"

[[googlechat]]
webhook_url = "https://chat.googleapis.com/v1/spaces/X/messages?key=S3-googlechat-url"
`

// revealed lists every secret of cfg; the test fails if one is empty, so a
// channel whose secret was not read cannot pass unnoticed.
func revealed(t *testing.T, cfg *Config) []string {
	t.Helper()
	s := []string{
		cfg.Email[0].Password.Reveal(), cfg.Slack[0].WebhookURL.Reveal(), cfg.Webhook[0].URL.Reveal(),
		cfg.Webhook[0].Secret.Reveal(), cfg.Webhook[0].Headers["Authorization"].Reveal(),
		cfg.Telegram[0].BotToken.Reveal(), cfg.Teams[0].WebhookURL.Reveal(), cfg.Ntfy[0].Token.Reveal(),
		cfg.Discord[0].WebhookURL.Reveal(), cfg.Mattermost[0].WebhookURL.Reveal(), cfg.GoogleChat[0].WebhookURL.Reveal(),
	}
	for i, v := range s {
		if v == "" {
			t.Fatalf("secret %d was not read from the file", i)
		}
	}
	return s
}

// TestSecretNeverPrints logs a whole config and single secrets through
// slog's text and JSON handlers and formats them with fmt's verbs: no
// secret may appear, and "<secret>" must stand in for each.
func TestSecretNeverPrints(t *testing.T) {
	cfg, err := Parse(strings.NewReader(secretsFile))
	if err != nil {
		t.Fatal(err)
	}
	secrets := revealed(t, cfg)
	pw := cfg.Email[0].Password

	handlers := []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	}
	logs := []struct {
		name string
		log  func(*slog.Logger)
	}{
		{"whole config", func(l *slog.Logger) { l.Info("loaded", "config", cfg) }},
		{"config pointer and value", func(l *slog.Logger) { l.Info("loaded", "ptr", cfg, "val", *cfg) }},
		{"one channel", func(l *slog.Logger) { l.Info("channel", "email", cfg.Email[0], "webhook", cfg.Webhook[0]) }},
		{"a secret as an attribute", func(l *slog.Logger) { l.Warn("login failed", "password", pw) }},
		{"a secret through slog.Any", func(l *slog.Logger) { l.Error("x", slog.Any("password", pw)) }},
		{"a secret in a group", func(l *slog.Logger) { l.Info("x", slog.Group("smtp", "password", pw)) }},
		{"a secret in With", func(l *slog.Logger) { l.With("token", cfg.Telegram[0].BotToken).Info("x") }},
		{"headers map", func(l *slog.Logger) { l.Info("x", "headers", cfg.Webhook[0].Headers) }},
	}
	for _, h := range handlers {
		for _, lg := range logs {
			t.Run(h.name+"/"+lg.name, func(t *testing.T) {
				var b bytes.Buffer
				lg.log(slog.New(h.new(&b)))
				out := b.String()
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Errorf("a secret shows in the %s log: %q\n%s", h.name, s, out)
					}
				}
				if !strings.Contains(out, "<secret>") {
					t.Errorf("no <secret> stands in for the secret:\n%s", out)
				}
			})
		}
	}

	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		for _, v := range []struct {
			name string
			val  any
		}{{"config", cfg}, {"config value", *cfg}, {"secret", pw}, {"webhook", cfg.Webhook[0]}} {
			t.Run("fmt "+verb+" "+v.name, func(t *testing.T) {
				out := fmt.Sprintf(verb, v.val)
				for _, s := range secrets {
					if strings.Contains(out, s) || strings.Contains(out, fmt.Sprintf("%x", s)) || strings.Contains(out, fmt.Sprintf("%X", s)) {
						t.Errorf("fmt %s shows the secret %q:\n%s", verb, s, out)
					}
				}
			})
		}
	}
}

// TestSecretEmptyStaysEmpty: an unset secret prints as nothing, so
// check-config and %#v tell a missing password from a hidden one.
func TestSecretEmptyStaysEmpty(t *testing.T) {
	var s Secret
	if got := s.String(); got != "" {
		t.Errorf("String of an empty secret = %q, want empty", got)
	}
	if got := fmt.Sprintf("%#v", s); got != `config.Secret("")` {
		t.Errorf("%%#v of an empty secret = %s", got)
	}
	if got := fmt.Sprintf("%#v", Secret("x")); got != `config.Secret("<secret>")` {
		t.Errorf("%%#v of a secret = %s", got)
	}
	if got := s.LogValue(); got.Kind() != slog.KindString || got.String() != "" {
		t.Errorf("LogValue of an empty secret = %v", got)
	}
}
