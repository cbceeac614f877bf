package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadBroken(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // every one must appear in the error
	}{
		{
			name: "unknown key",
			file: "[general]\njournal_lines = 20\ntimeuot = \"5s\"\n[[email]]\nhots = \"smtp.example.com\"\n",
			want: []string{"general.timeuot: unknown key", "email.hots: unknown key"},
		},
		{
			name: "both secret and its file",
			file: "[[slack]]\nwebhook_url = \"https://hooks.example.com/x\"\nwebhook_url_file = \"/etc/x\"\n",
			want: []string{"slack[0].webhook_url: set either webhook_url or webhook_url_file, not both"},
		},
		{
			name: "email without to, from or host",
			file: "[[email]]\nname = \"ops\"\n",
			want: []string{"email[0].to: required", "email[0].from: required", "email[0].host: required"},
		},
		{
			name: "bad durations, all reported",
			file: "[general]\ntimeout = \"30\"\n[limits]\ndedup_window = \"ten minutes\"\n",
			want: []string{`general.timeout: "30" is not a duration`, `limits.dedup_window: "ten minutes" is not a duration`},
		},
		{
			name: "syntax error has its line",
			file: "[general]\njournal_lines = 20\nhostname = \"erp1\n",
			want: []string{"syntax error at line 3"},
		},
		{
			name: "several problems at once",
			file: "[general]\njournal_lines = 0\n[[email]]\nhost = \"h\"\nfrom = \"not an address\"\nto = [\"ops@example.com\"]\nsecurity = \"ssl\"\n[[webhook]]\nurl = \"ftp://x\"\nsecret = \"abc\"\n",
			want: []string{
				"general.journal_lines: must be between 1 and 10000",
				`email[0].from: "not an address" is not a mail address`,
				`email[0].security: must be "starttls", "tls" or "none", not "ssl"`,
				"webhook[0].url: must be an absolute http:// or https:// URL",
				`webhook[0].secret: must start with "whsec_"`,
			},
		},
		{
			name: "duplicate names",
			file: "[[slack]]\nname = \"ops\"\nwebhook_url = \"https://h/1\"\n[[webhook]]\nname = \"ops\"\nurl = \"https://h/2\"\n",
			want: []string{`webhook[0].name: "ops" is already the name of slack[0]`},
		},
		{
			name: "missing secret file",
			file: "[[slack]]\nwebhook_url_file = \"/nonexistent/slack-url\"\n",
			want: []string{"slack[0].webhook_url_file: read /nonexistent/slack-url: no such file or directory"},
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
		})
	}
}

func TestLoadDefaultsAndSecrets(t *testing.T) {
	dir := t.TempDir()
	creds := t.TempDir()
	write(t, creds, "smtp-password", "s3cret-pass\n")
	p := write(t, dir, "config.toml", `
[[email]]
host = "smtp.example.com"
username = "odoo"
password_file = "smtp-password"
from = "odoo@example.com"
to = ["ops@example.com"]

[[slack]]
webhook_url = "https://hooks.slack.com/services/T0/B0/XYZ"
`)
	c, err := Load(p, creds)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Email[0]
	if e.Security != "starttls" || e.Port != 587 || e.Name != "email[0]" {
		t.Errorf("email defaults: security %q port %d name %q, want starttls 587 email[0]", e.Security, e.Port, e.Name)
	}
	if e.Password.Reveal() != "s3cret-pass" {
		t.Errorf("password from the credentials dir: got %q", e.Password.Reveal())
	}
	s := c.Slack[0]
	if s.Rate != 1 || s.Burst != 3 || s.Timeout.Duration != DefaultChannelTimeout {
		t.Errorf("slack defaults: rate %v burst %d timeout %v", s.Rate, s.Burst, s.Timeout)
	}
	if c.General.JournalLines != 50 || c.General.Timeout.Duration != 30*time.Second || c.Limits.MaxReports != 5 {
		t.Errorf("general defaults: %+v limits %+v", c.General, c.Limits)
	}

	var out bytes.Buffer
	if err := c.Encode(&out); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cret-pass", "XYZ", "hooks.slack.com"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("effective config shows secret %q:\n%s", secret, out.String())
		}
	}
	if !strings.Contains(out.String(), `password = "<secret>"`) {
		t.Errorf("effective config does not show the password as <secret>:\n%s", out.String())
	}
}

// A run falls back to Default() when the file is missing or broken: it
// must be a valid config as it is.
func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(""); err != nil {
		t.Fatalf("Default() is not valid: %v", err)
	}
}

func TestExampleIsValid(t *testing.T) {
	// The shipped example must load as it is: a fresh install works
	// before anyone edits it.
	c, err := Load("../config.example.toml", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Channels() != 0 {
		t.Errorf("config.example.toml configures %d channels; every channel must be commented out", c.Channels())
	}
}

func TestExampleDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	keys := []string{"hostname", "journal_lines", "timeout", "host", "port", "security", "username",
		"password", "password_file", "ca_file", "from", "to", "webhook_url", "webhook_url_file", "url", "url_file",
		"headers", "secret", "secret_file", "rate", "burst", "max_age", "dedup_window", "max_reports",
		"per", "log_file", "redact", "name", "urls", "bearer_token_file", "cert_file", "key_file", "server_name"}
	for _, k := range keys {
		if !strings.Contains(text, "# "+k+" =") && !strings.Contains(text, "\n"+k+" =") && !strings.Contains(text, "."+k+"]") {
			t.Errorf("config.example.toml does not document %q", k)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("[general]\ntimeout = \"30s\"\n")
	f.Add("[[email]]\nhost = \"h\"\nto = [\"a@b\"]\n")
	f.Add("[[webhook]]\nurl = \"https://x\"\n[webhook.headers]\nX = \"y\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(strings.NewReader(s))
		if err == nil {
			_ = c.Validate("")
		}
	})
}
