package config

import (
	"bytes"
	"strings"
	"testing"
)

func TestAlertmanagerSection(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "am-password", "SECRETamPassword\n")
	p := write(t, dir, "config.toml", `
[[alertmanager]]
name = "am"
urls = ["http://am1:9093", "https://am2.example.com/alertmanager"]
username = "odoo-notify"
password_file = "`+dir+`/am-password"
`)
	c, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	a := c.Alertmanager[0]
	if c.Channels() != 1 || a.Password.Reveal() != "SECRETamPassword" || a.Timeout.Duration != DefaultChannelTimeout || a.Rate != 0 {
		t.Errorf("alertmanager = %+v", a)
	}
	var b bytes.Buffer
	if err := c.Encode(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "SECRET") {
		t.Errorf("check-config output shows a secret:\n%s", b.String())
	}
	if c.HasInlineSecrets() {
		t.Error("HasInlineSecrets() = true, but the password is in a file")
	}
}

func TestAlertmanagerSectionBroken(t *testing.T) {
	file := `
[[alertmanager]]
[[alertmanager]]
urls = ["am1:9093", "http://u:SECRETinURL@am2:9093", "http://am3:9093", "http://am3:9093"]
password = "SECRETpw"
bearer_token = "SECRETtoken"
cert_file = "/etc/odoo-notify/client.pem"
[[alertmanager]]
urls = ["http://am:9093"]
username = "me"
bearer_token = "SECRETtoken2"
`
	want := []string{
		`alertmanager[0].urls: required: every peer of the Alertmanager cluster`,
		`alertmanager[1].urls[0]: must be an absolute http:// or https:// URL`,
		`alertmanager[1].urls[1]: put no user, password or query in the URL`,
		`alertmanager[1].urls[3]: "http://am3:9093" is listed twice`,
		`alertmanager[1].username: required when a password is set`,
		`alertmanager[1].key_file: cert_file and key_file go together`,
		`alertmanager[2].password: required when a username is set`,
		`alertmanager[2].bearer_token: set either username and password or bearer_token, not both`,
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
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("the error quotes a secret:\n%v", err)
	}
}
