package config

import (
	"bytes"
	"strings"
	"testing"
)

// TestSlackApp: a [[slack]] with a bot token in a systemd credential gets
// Slack's API URL and one message a second, and check-config's output
// shows no token.
func TestSlackApp(t *testing.T) {
	dir, creds := t.TempDir(), t.TempDir()
	write(t, creds, "slack-token", "xoxb-1234567890-0987654321-SECRETslackBotToken\n")
	p := write(t, dir, "config.toml", `
[[slack]]
name = "ops-slack"
token_file = "slack-token"
channel = "C0123456789"
[[slack]]
webhook_url = "https://hooks.slack.com/services/T0/B0/XYZ"
`)
	c, err := Load(p, creds)
	if err != nil {
		t.Fatal(err)
	}
	app, hook := c.Slack[0], c.Slack[1]
	if app.Token.Reveal() != "xoxb-1234567890-0987654321-SECRETslackBotToken" || app.APIURL != DefaultSlackAPIURL {
		t.Errorf("app = %+v, want the token from the credential and api_url %s", app, DefaultSlackAPIURL)
	}
	if app.Rate != DefaultSlackAppRate || app.Burst != DefaultSlackAppBurst {
		t.Errorf("app rate %v burst %d, want one message a second: %v and %d", app.Rate, app.Burst, DefaultSlackAppRate, DefaultSlackAppBurst)
	}
	if hook.Rate != DefaultSlackRate || hook.Burst != DefaultSlackBurst || hook.APIURL != "" {
		t.Errorf("webhook = %+v, want the webhook defaults", hook)
	}
	if !c.HasInlineSecrets() {
		t.Error("HasInlineSecrets() = false, but the webhook URL is in the file")
	}
	var out bytes.Buffer
	if err := c.Encode(&out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "SECRETslackBotToken") || !strings.Contains(out.String(), `token = "<secret>"`) {
		t.Errorf("effective config shows the token, or not as <secret>:\n%s", out.String())
	}
}

func TestSlackAppBroken(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string
	}{
		{
			name: "webhook and token",
			file: "[[slack]]\nwebhook_url = \"https://hooks.slack.com/x\"\ntoken = \"xoxb-1-2-abcdefghij\"\nchannel = \"#ops\"\n",
			want: []string{"slack[0]: set either webhook_url (an incoming webhook) or token (a Slack app's bot), not both"},
		},
		{
			name: "neither",
			file: "[[slack]]\nname = \"ops\"\n",
			want: []string{"slack[0].webhook_url: required (or webhook_url_file)"},
		},
		{
			name: "user token",
			file: "[[slack]]\ntoken = \"xoxp-1234-5678-abcdefgh\"\nchannel = \"#ops\"\n",
			want: []string{"slack[0].token: is not a bot token: copy the Bot User OAuth Token (xoxb-...)"},
		},
		{
			name: "token and token_file",
			file: "[[slack]]\ntoken = \"xoxb-1-2-abcdefghij\"\ntoken_file = \"/etc/t\"\nchannel = \"#ops\"\n",
			want: []string{"slack[0].token: set either token or token_file, not both"},
		},
		{
			name: "no channel",
			file: "[[slack]]\ntoken = \"xoxb-1234-5678-abcdefgh\"\n",
			want: []string{"slack[0].channel: required with token"},
		},
		{
			name: "channel without #",
			file: "[[slack]]\ntoken = \"xoxb-1234-5678-abcdefgh\"\nchannel = \"ops alerts\"\n",
			want: []string{`slack[0].channel: "ops alerts" is not a channel`},
		},
		{
			name: "bad api_url",
			file: "[[slack]]\ntoken = \"xoxb-1234-5678-abcdefgh\"\nchannel = \"#ops\"\napi_url = \"slack.com/api\"\n",
			want: []string{"slack[0].api_url: must be an absolute http:// or https:// URL"},
		},
		{
			name: "channel on a webhook",
			file: "[[slack]]\nwebhook_url = \"https://hooks.slack.com/x\"\nchannel = \"#ops\"\n",
			want: []string{"slack[0]: channel and api_url belong to a Slack app (token)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, t.TempDir(), "config.toml", tt.file)
			_, err := Load(p, "")
			if err == nil {
				t.Fatal("Load accepted a broken file")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q; it says:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "abcdefgh") {
				t.Errorf("the error shows the token:\n%v", err)
			}
		})
	}
}
