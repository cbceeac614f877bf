// Package webhook posts a crash report's JSON (the versioned contract,
// report.Schema) to a generic HTTP endpoint, signed the Standard Webhooks way
// (https://www.standardwebhooks.com) when a secret is configured, so the
// receiver can tell the report came from this host and was not altered. A
// template, when configured, writes the body instead, for a service that
// wants its own shape.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Notifier posts reports to one endpoint.
type Notifier struct {
	url     config.Secret
	headers http.Header
	// secrets are every configured value that must not appear in an error,
	// even when the receiver echoes it back.
	secrets []string
	key     []byte
	tmpl    *template.Template
	// jsonBody says the body must be valid JSON (Content-Type
	// application/json).
	jsonBody bool
	client   *http.Client
	now      func() time.Time

	mu     sync.Mutex
	last   *report.Report
	lastID string
}

// New returns a Notifier for the validated channel c. client carries the
// timeouts; it is shared by every channel of a run.
func New(c config.Webhook, client *http.Client) (*Notifier, error) {
	n := &Notifier{url: c.URL, client: client, now: time.Now, headers: http.Header{}}
	if c.URL == "" {
		return nil, errors.New("webhook: no url: set url or url_file")
	}
	n.secrets = notifiers.URLSecrets(c.URL.Reveal())
	if c.Template != "" {
		t, err := Parse(c.Template)
		if err != nil {
			return nil, fmt.Errorf("webhook: template: %w", err)
		}
		n.tmpl = t
	}
	ct := c.ContentType
	if ct == "" {
		ct = "application/json"
	}
	n.headers.Set("Content-Type", ct)
	n.jsonBody = strings.HasPrefix(ct, "application/json")
	for k, v := range c.Headers {
		if strings.ContainsAny(v.Reveal(), "\r\n") {
			return nil, fmt.Errorf("webhook: header %s: the value holds a line break: write it on one line", k)
		}
		switch strings.ToLower(k) {
		case HeaderID, HeaderTimestamp, HeaderSignature:
			return nil, fmt.Errorf("webhook: header %s: set by odoo-notify: remove it from headers", k)
		}
		n.headers.Set(k, v.Reveal())
		n.secrets = append(n.secrets, v.Reveal())
		// "Bearer <token>": the token alone may be echoed too.
		if _, tok, ok := strings.Cut(v.Reveal(), " "); ok {
			n.secrets = append(n.secrets, tok)
		}
	}
	if c.Secret != "" {
		key, err := config.WebhookKey(c.Secret)
		if err != nil {
			return nil, fmt.Errorf("webhook: %w", err)
		}
		n.key = key
		n.secrets = append(n.secrets, c.Secret.Reveal(), strings.TrimPrefix(c.Secret.Reveal(), "whsec_"))
	}
	return n, nil
}

// String names the endpoint by its host alone, so that printing a Notifier
// (%v, %+v) never shows the URL's key, a header or the signing key.
func (n *Notifier) String() string {
	return "webhook " + notifiers.RedactURL(n.url.Reveal())
}

// Notify posts r.JSON(). It returns retry=true for answers that may go away
// (408, 429, 5xx, network errors); a 429 carries the server's Retry-After.
func (n *Notifier) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	body, err := n.body(r)
	if err != nil {
		return false, fmt.Errorf("webhook: %w", err)
	}
	// The id and timestamp go out signed or not: a receiver drops
	// redeliveries of one report by its webhook-id either way.
	h := n.headers.Clone()
	id := n.messageID(r)
	ts := strconv.FormatInt(n.now().Unix(), 10)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, ts)
	if n.key != nil {
		h.Set(HeaderSignature, "v1,"+sign(n.key, id, ts, body))
	}
	retry, err = notifiers.PostJSON(ctx, n.client, n.url.Reveal(), h, body, n.secrets...)
	if err != nil {
		return retry, fmt.Errorf("webhook: post: %w", err)
	}
	return false, nil
}

// body is the report's JSON, or what the template writes.
func (n *Notifier) body(r *report.Report) ([]byte, error) {
	if n.tmpl == nil {
		return r.JSON()
	}
	var b bytes.Buffer
	if err := n.tmpl.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if n.jsonBody && !json.Valid(b.Bytes()) {
		// The body itself is not quoted: it holds log text.
		return nil, errors.New("template: the body is not valid JSON: write every value with json, like {\"text\": {{json .Subject}}}")
	}
	return b.Bytes(), nil
}

// Parse reads a body template. Its data is the *report.Report (.Title, .Subject,
// .Text, .Summary, .Host, .Unit, .Event, .Incident, .Lines, ...), and these
// helpers escape:
//
//	json V         V as JSON: a quoted, escaped string, a number, an object
//	truncate N S   S cut to N bytes on a character boundary, marked as cut
//	oneline S      S with line breaks and control characters as spaces
func Parse(text string) (*template.Template, error) {
	return template.New("body").Option("missingkey=error").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"truncate": func(n int, s string) string { return report.Truncate(report.ValidUTF8(s), n) },
		"oneline":  report.OneLine,
	}).Parse(text)
}

// messageID is r.ID, or a random id kept for the retries of the same report
// so that the receiver sees one message, delivered once or more.
func (n *Notifier) messageID(r *report.Report) string {
	if r.ID != "" {
		return r.ID
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.last != r {
		n.last, n.lastID = r, "msg_"+rand.Text()
	}
	return n.lastID
}

// sign is the Standard Webhooks v1 signature: HMAC-SHA256 over
// "id.timestamp.body", base64.
func sign(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
