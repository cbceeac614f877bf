package main

import (
	"fmt"
	"strings"
	"testing"
)

// chatConfig points one channel of each chat service at sink.
func chatConfig(t *testing.T, sink string) string {
	return writeFile(t, t.TempDir(), "config.toml", fmt.Sprintf(`
[general]
hostname = "erp1"
timeout = "10s"

[[telegram]]
name = "tg"
bot_token = "123456789:AAtelegramSECRETtoken"
chat_id = "-1001234567890"
api_url = %[1]q
timeout = "3s"

[[teams]]
name = "teams"
webhook_url = "%[1]s/workflows/f00/triggers/manual/paths/invoke?api-version=2016-06-01&sig=teamsSECRETsig0123456789"
timeout = "3s"

[[ntfy]]
name = "phone"
url = %[1]q
topic = "odoo-alerts"
token = "tk_ntfySECRETtoken"
timeout = "3s"

[[discord]]
name = "discord"
webhook_url = "%[1]s/api/webhooks/1/discordSECRETtoken"
timeout = "3s"

[[mattermost]]
name = "mm"
webhook_url = "%[1]s/hooks/mattermostSECRETkey"
timeout = "3s"

[[googlechat]]
name = "gchat"
webhook_url = "%[1]s/v1/spaces/A/messages?key=k&token=gchatSECRETtoken"
timeout = "3s"
`, sink))
}

var chatSecrets = []string{"telegramSECRETtoken", "teamsSECRETsig", "ntfySECRETtoken", "discordSECRETtoken", "mattermostSECRETkey", "gchatSECRETtoken"}

// TestTestFireChats: `odoo-notify test` reaches every chat channel, and
// check-config shows them with every secret hidden.
func TestTestFireChats(t *testing.T) {
	s := newSink(t, 200, `{"ok":true}`)
	cfg := chatConfig(t, s.URL)
	out, errOut, code := cli(t, nil, "test", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, ch := range []string{"telegram tg", "teams", "ntfy phone", "discord", "mattermost mm", "googlechat gchat"} {
		if !strings.Contains(out, "ok      "+ch+" ") {
			t.Errorf("no ok line for %s:\n%s", ch, out)
		}
	}
	bodies, _ := s.got()
	if len(bodies) != 6 {
		t.Fatalf("the services got %d messages, want 6", len(bodies))
	}
	for _, b := range bodies {
		if !strings.Contains(b, "TEST") || !strings.Contains(b, "erp1: odoo-notify test report") {
			t.Errorf("a message is not marked as a test:\n%.300s", b)
		}
	}
	out, errOut, code = cli(t, nil, "check-config", "--config", cfg)
	if code != 0 || !strings.Contains(out, "6 channel(s)") {
		t.Fatalf("check-config: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, sec := range chatSecrets {
		if strings.Contains(out+errOut, sec) {
			t.Errorf("check-config shows %s:\n%s", sec, out)
		}
	}
}

// TestTestFireChatFailuresShowNoSecret: every service refuses, quoting the
// request back; no secret reaches the output or the log.
func TestTestFireChatFailuresShowNoSecret(t *testing.T) {
	s := newSink(t, 403, `{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked"}`)
	out, errOut, code := cli(t, nil, "test", "--config", chatConfig(t, s.URL))
	if code == 0 || strings.Count(out, "FAILED") != 6 {
		t.Fatalf("exit %d, want 6 failures:\n%s\n%s", code, out, errOut)
	}
	for _, sec := range chatSecrets {
		if strings.Contains(out+errOut, sec) {
			t.Errorf("%s leaked:\n%s\n%s", sec, out, errOut)
		}
	}
}
