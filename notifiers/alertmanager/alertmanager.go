// Package alertmanager sends incidents to a Prometheus Alertmanager as
// alerts (POST /api/v2/alerts), to every peer of an HA cluster, as
// Alertmanager wants. An alert is known by its labels, which stay the same
// over an incident (alertname, host, unit, the opening cause, severity);
// what changes (the failure count, the summary) is in its annotations.
//
// Alertmanager resolves an alert that is not sent again before its endsAt,
// so the channel is an outbox.Refresher: odoo-notify flush sends every open
// incident again, each time with endsAt a little past the next flush, and
// an incident that resolved, with its end, for ResendResolved.
//
// The password and the bearer token never appear in an error or a log
// line; a peer is named by its URL, which config forbids to hold any.
package alertmanager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
)

// Alert names, by what went wrong: every one a unit failure but for the
// watch companion's hangs and degraded spells.
const (
	UnitFailed = "SystemdUnitFailed"
	Hang       = "OdooHang"
	Degraded   = "OdooDegraded"
	Test       = "OdooNotifyTest"
)

const (
	// FlushInterval is how often odoo-notify-flush.timer runs flush
	// (OnUnitActiveSec=30s), which sends every open incident again.
	FlushInterval = 30 * time.Second
	// Margin is how far past a send an open incident's endsAt is: three
	// flushes. The next flush comes 30 s later plus its run (up to
	// [general] timeout when a channel is slow); a margin of three lets
	// one flush fail or be late without the alert resolving by itself,
	// and a host that stops sending (down, odoo-notify removed) has its
	// alerts resolve within 90 s instead of lingering.
	Margin = 3 * FlushInterval
	// ResolvedFor is how long a recovery is sent again: a peer that was
	// down or restarted when it went learns the end in that time; one
	// down longer lets the alert expire at its endsAt all the same.
	ResolvedFor = 5 * time.Minute
	// TestFor is how long a test alert fires before it ends by itself.
	TestFor = 5 * time.Minute
	// maxDescription bounds the description annotation.
	maxDescription = 4000
)

// AlertName is the alertname of an incident whose opening cause is cause:
// the one place that maps causes to alerts.
func AlertName(cause string) string {
	switch {
	case cause == "hang":
		return Hang
	case cause == "degraded" || strings.HasPrefix(cause, "degraded-"):
		return Degraded
	}
	return UnitFailed
}

// Severity is the severity label of an alert name.
func Severity(alertname string) string {
	switch alertname {
	case Degraded:
		return "warning"
	case Test:
		return "info"
	}
	return "critical"
}

// Alert is Alertmanager's postableAlert (api/v2/openapi.yaml).
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

// AlertOf is the alert that says what r says, as of now.
func AlertOf(r *report.Report, now time.Time) Alert {
	cause := stableCause(r)
	name := AlertName(cause)
	if r.Test {
		name = Test
	}
	a := Alert{
		Labels: map[string]string{
			"alertname": name,
			"host":      r.Host,
			"unit":      r.Unit,
			"cause":     cause,
			"severity":  Severity(name),
		},
		Annotations: map[string]string{
			"summary":     summary(r),
			"description": description(r),
		},
	}
	for k, v := range a.Labels {
		if v == "" {
			delete(a.Labels, k) // Alertmanager drops it too
		}
	}
	in := r.Incident
	switch {
	case r.Test:
		a.StartsAt, a.EndsAt = now, now.Add(TestFor)
	case r.Event == report.EventResolved:
		a.EndsAt = now
		if in != nil && !in.Resolved.IsZero() {
			a.EndsAt = in.Resolved
		}
	default:
		a.EndsAt = now.Add(Margin)
	}
	if a.StartsAt.IsZero() {
		a.StartsAt = firstSet(r.ExitedAt, r.Created, now)
		if in != nil && !in.Opened.IsZero() {
			a.StartsAt = in.Opened
		}
	}
	if a.EndsAt.Before(a.StartsAt) {
		// A clock that went back: Alertmanager refuses such an alert.
		a.StartsAt = a.EndsAt
	}
	if in != nil {
		a.Annotations["incident_id"] = in.ID
		a.Annotations["failures"] = strconv.Itoa(in.Failures)
		if in.Causes != "" {
			a.Annotations["causes"] = in.Causes
		}
	}
	if r.InvocationID != "" {
		a.Annotations["invocation_id"] = r.InvocationID
	}
	return a
}

// stableCause is the incident's opening cause, so that the labels stay
// the same over it; a report outside an incident names its own.
func stableCause(r *report.Report) string {
	if r.Incident != nil && r.Incident.Cause != "" {
		return r.Incident.Cause
	}
	for _, c := range []string{r.Cause, r.Result} {
		if c != "" {
			return c
		}
	}
	return "unknown"
}

// summary is the incident's opening subject: the same on every send.
func summary(r *report.Report) string {
	if r.Incident != nil && r.Incident.Subject != "" {
		return r.Incident.Subject
	}
	plain := *r
	plain.Event = ""
	return plain.Title()
}

// description says what this report says: its summary, the exception and
// the hints, and how far the incident got.
func description(r *report.Report) string {
	var b strings.Builder
	b.WriteString(report.ValidUTF8(r.Summary))
	if e := r.Exception; e != nil && e.Type != "" {
		fmt.Fprintf(&b, "\nException: %s: %s", e.Type, report.OneLine(e.Message))
		if e.Frame != "" {
			b.WriteString(" at " + e.Frame)
		}
	}
	for _, h := range r.Hints {
		b.WriteString("\nHint: " + h)
	}
	if in := r.Incident; in != nil && in.Failures > 0 {
		fmt.Fprintf(&b, "\nIncident %s: %d failure(s) since %s (%s)", in.ID, in.Failures, in.Opened.UTC().Format(time.RFC3339), in.Causes)
	}
	if r.Test {
		b.WriteString("\nA test alert from odoo-notify test: it ends by itself in 5 minutes.")
	}
	return report.Truncate(strings.TrimSpace(b.String()), maxDescription)
}

func firstSet(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// Notifier posts alerts to every peer of one Alertmanager cluster.
type Notifier struct {
	peers    []string
	username string
	password config.Secret
	token    config.Secret
	client   *http.Client
	resolved time.Duration
	// Log gets a line for each peer that did not take an alert the others
	// took.
	Log *slog.Logger
	// Now is the clock endsAt is counted from; tests replace it.
	Now func() time.Time
}

// New returns a Notifier for the validated channel c. client carries the
// timeouts; when c has TLS options, its transport is copied with them.
// A CA, certificate or key file that cannot be read is an error that says
// which.
func New(c config.Alertmanager, client *http.Client) (*Notifier, error) {
	n := &Notifier{client: client, resolved: ResolvedFor, username: c.Username, password: c.Password, token: c.BearerToken}
	for _, u := range c.URLs {
		n.peers = append(n.peers, strings.TrimRight(u, "/"))
	}
	if c.CAFile != "" || c.CertFile != "" || c.ServerName != "" {
		tc, err := tlsConfig(c)
		if err != nil {
			return nil, err
		}
		n.client = withTLS(client, tc)
	}
	return n, nil
}

func tlsConfig(c config.Alertmanager) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("alertmanager: read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("alertmanager: ca_file %s holds no PEM certificate: give the CA that signs the peers' certificates, in PEM form", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			// The error of LoadX509KeyPair never quotes the key.
			return nil, fmt.Errorf("alertmanager: cert_file %s and key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// withTLS is client with its transport copied and tc as its TLS settings.
func withTLS(client *http.Client, tc *tls.Config) *http.Client {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	base, ok := client.Transport.(*http.Transport)
	if !ok || base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	t.TLSClientConfig = tc
	c := *client
	c.Transport = t
	return &c
}

// String names the peers, never the credentials.
func (n *Notifier) String() string {
	names := make([]string, len(n.peers))
	for i, p := range n.peers {
		names[i] = PeerName(p)
	}
	return "alertmanager " + strings.Join(names, " ")
}

// auth is the Authorization header and the forms of the secrets in it
// that a proxy's answer may quote.
func (n *Notifier) auth() (http.Header, []string) {
	switch {
	case n.token != "":
		return http.Header{"Authorization": {"Bearer " + n.token.Reveal()}}, []string{n.token.Reveal()}
	case n.username != "":
		pair := n.username + ":" + n.password.Reveal()
		b64 := base64.StdEncoding.EncodeToString([]byte(pair))
		return http.Header{"Authorization": {"Basic " + b64}}, []string{n.password.Reveal(), pair, b64}
	}
	return nil, nil
}

// ResendResolved makes the channel an outbox.Refresher.
func (n *Notifier) ResendResolved() time.Duration { return n.resolved }

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// Notify posts r's alert to every peer at once. It is delivered when at
// least one peer took it: the peers share their notifications, so one is
// enough for the alert to reach a person, and the next flush sends it to
// all again; a peer that failed is logged. When none took it, the error
// names each peer, and retry says whether any may take it later.
func (n *Notifier) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	body, err := json.Marshal([]Alert{AlertOf(r, n.now())})
	if err != nil {
		return false, fmt.Errorf("alertmanager: encode alert: %w", err)
	}
	type result struct {
		retry bool
		err   error
	}
	headers, secrets := n.auth()
	results := make([]result, len(n.peers))
	var wg sync.WaitGroup
	for i, peer := range n.peers {
		wg.Go(func() {
			rt, err := notifiers.PostJSON(ctx, n.client, peer+"/api/v2/alerts", headers, body, secrets...)
			results[i] = result{rt, explain(err)}
		})
	}
	wg.Wait()
	var errs []error
	for i, res := range results {
		if res.err == nil {
			continue
		}
		retry = retry || res.retry
		errs = append(errs, fmt.Errorf("%s: %w", PeerName(n.peers[i]), res.err))
	}
	if len(errs) == 0 {
		return false, nil
	}
	if len(errs) < len(n.peers) {
		if n.Log != nil {
			for _, e := range errs {
				n.Log.Warn("alertmanager: a peer did not take the alert; the others did, and the next flush sends it again", "unit", r.Unit, "error", e)
			}
		}
		return false, nil
	}
	if len(errs) == 1 {
		return retry, fmt.Errorf("alertmanager: post alert to %w", errs[0])
	}
	return retry, fmt.Errorf("alertmanager: post alert: no peer took it: %w", errors.Join(errs...))
}

// PeerName is a peer's URL as logs show it: without any user or query.
func PeerName(peer string) string {
	u, err := url.Parse(peer)
	if err != nil || u.Host == "" {
		return "<bad URL>"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// explain puts Alertmanager's own message in the error in place of its
// JSON, with what to fix.
func explain(err error) error {
	var se *notifiers.StatusError
	if err == nil || !errors.As(err, &se) {
		return err
	}
	// A validation error is a JSON string; others {"code":..,"message":..}.
	var msg string
	if json.Unmarshal(se.Detail, &msg) != nil || msg == "" {
		var o struct{ Message string }
		if json.Unmarshal(se.Detail, &o) == nil && o.Message != "" {
			msg = o.Message
		}
	}
	if msg != "" {
		se.Body = report.Truncate(report.OneLine(msg), 200)
	}
	if h := hint(se.Code); h != "" {
		return fmt.Errorf("%w: %s", err, h)
	}
	return err
}

func hint(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "Alertmanager refused the alert: report this as a bug in odoo-notify"
	case http.StatusUnauthorized:
		return "the server wants credentials: set username and password (or bearer_token) to what the proxy in front of Alertmanager takes"
	case http.StatusForbidden:
		return "these credentials may not post alerts: check username and password, or bearer_token"
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return "no Alertmanager API v2 at this URL: check urls (with the route prefix, if Alertmanager runs with --web.route-prefix)"
	}
	return ""
}
