package config

import (
	"bytes"
	"strings"
	"testing"
)

// TestChatSections: every chat section with its secrets in _file twins (a
// systemd credential for one), the defaults filled in, and no secret in
// check-config's output.
func TestChatSections(t *testing.T) {
	dir, creds := t.TempDir(), t.TempDir()
	write(t, creds, "telegram-token", "123456789:AAsecretTELEGRAMtoken\n")
	write(t, dir, "teams-url", "https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=SECRETteamsSig")
	write(t, dir, "discord-url", "https://discord.com/api/webhooks/1/SECRETdiscord")
	write(t, dir, "mm-url", "https://chat.example.com/hooks/SECRETmattermost")
	write(t, dir, "gchat-url", "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=SECRETgchat")
	write(t, dir, "ntfy-token", "tk_SECRETntfy")
	write(t, dir, "rocket-url", "https://rocket.example.com/hooks/SECRETrocket")
	p := write(t, dir, "config.toml", `
[[telegram]]
bot_token_file = "telegram-token"
chat_id = "-1001234567890"
[[teams]]
webhook_url_file = "`+dir+`/teams-url"
[[ntfy]]
topic = "odoo-alerts"
token_file = "`+dir+`/ntfy-token"
[[discord]]
webhook_url_file = "`+dir+`/discord-url"
[[mattermost]]
webhook_url_file = "`+dir+`/mm-url"
channel = "ops"
[[googlechat]]
webhook_url_file = "`+dir+`/gchat-url"
[[webhook]]
url_file = "`+dir+`/rocket-url"
template = '{"text": {{json .Subject}}}'
`)
	c, err := Load(p, creds)
	if err != nil {
		t.Fatal(err)
	}
	if c.Channels() != 7 {
		t.Errorf("Channels() = %d, want 7", c.Channels())
	}
	tg := c.Telegram[0]
	if tg.Name != "telegram[0]" || tg.BotToken.Reveal() != "123456789:AAsecretTELEGRAMtoken" || tg.APIURL != DefaultTelegramAPIURL || tg.Rate != DefaultChatRate || tg.Burst != DefaultChatBurst {
		t.Errorf("telegram = %+v", tg)
	}
	if n := c.Ntfy[0]; n.URL != DefaultNtfyURL || n.Priority != "high" || n.Token.Reveal() != "tk_SECRETntfy" {
		t.Errorf("ntfy = %+v", n)
	}
	if c.Webhook[0].ContentType != "application/json" {
		t.Errorf("webhook content_type = %q", c.Webhook[0].ContentType)
	}
	if c.HasInlineSecrets() {
		t.Error("HasInlineSecrets() = true, but every secret is in a file")
	}
	var b bytes.Buffer
	if err := c.Encode(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "SECRET") {
		t.Errorf("check-config output shows a secret:\n%s", b.String())
	}
}

func TestChatSectionsBroken(t *testing.T) {
	file := `
[[telegram]]
bot_token = "no-colon-here"
chat_id = "ops room"
[[telegram]]
[[teams]]
webhook_url = "teams.example.com/x"
[[ntfy]]
topic = "has space"
priority = "loud"
tags = ["a,b"]
url = "ntfy.example.com"
[[discord]]
webhook_url = "https://discord.com/api/webhooks/1/x"
webhook_url_file = "/etc/x"
[[mattermost]]
[[googlechat]]
webhook_url = "ftp://chat.googleapis.com/x"
[[webhook]]
url = "https://h.example/x"
content_type = "text/plain"
`
	want := []string{
		"telegram[0].bot_token: is not a bot token",
		`telegram[0].chat_id: "ops room" is not a chat id`,
		"telegram[1].bot_token: required (or bot_token_file)",
		"telegram[1].chat_id: required",
		"teams[0].webhook_url: must be an absolute http:// or https:// URL",
		`ntfy[0].topic: "has space" is not a topic`,
		`ntfy[0].priority: must be "min", "low", "default", "high" or "urgent" (or 1 to 5), not "loud"`,
		`ntfy[0].tags[0]: "a,b" is not a tag`,
		"ntfy[0].url: must be an absolute",
		"discord[0].webhook_url: set either webhook_url or webhook_url_file, not both",
		"mattermost[0].webhook_url: required (or webhook_url_file)",
		"googlechat[0].webhook_url: must be an absolute",
		"webhook[0].content_type: the report's JSON is sent as application/json: set a template to send text/plain",
	}
	_, err := Load(write(t, t.TempDir(), "config.toml", file), "")
	if err == nil {
		t.Fatal("Load accepted a broken file")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "no-colon-here") {
		t.Errorf("the error quotes the token:\n%v", err)
	}
}
