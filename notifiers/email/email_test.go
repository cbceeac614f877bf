package email

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/internal/testenv"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/notifiertest"
	"github.com/odoo-notify/odoo-notify/report"
)

const (
	user     = "odoo-notify"
	password = "hunter2-SECRET-xyz"
)

func sampleReport() *report.Report {
	at := time.Date(2026, 11, 25, 14, 3, 7, 0, time.UTC)
	return &report.Report{
		ID:           "3f2a9c1e-run-7:email[0]",
		Host:         "erp1",
		Unit:         "odoo.service",
		InvocationID: "0b4c6f1d2e3a4b5c",
		Result:       "exit-code",
		ExitCode:     "exited",
		ExitStatus:   "1",
		Summary:      "Odoo could not reach its database.",
		Exception: &report.Exception{
			Type:    "psycopg2.OperationalError",
			Message: "connection to server at \"db\" failed",
		},
		Lines: []report.Line{
			{Time: at, Priority: 6, Message: "odoo.service: Starting Odoo"},
			{Time: at, Priority: 3, Message: "psycopg2.OperationalError: connection to server at \"db\" failed"},
		},
		LogSource: "journal",
		Created:   at,
	}
}

func channelConfig(port int, security string) config.Email {
	return config.Email{
		Name:     "ops-mail",
		Host:     "127.0.0.1",
		Port:     port,
		Security: security,
		From:     "odoo-notify@erp1.example.com",
		To:       []string{"ops@example.com", "dev@example.com"},
		Timeout:  config.Duration{Duration: 10 * time.Second},
	}
}

func newNotifier(t testing.TB, c config.Email) *Notifier {
	t.Helper()
	n, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

// tlsServer is what a mailpit with TLS needs, and what a client needs to
// trust it.
type tlsServer struct {
	cert testenv.CertFiles
	auth string
}

func newTLSServer(t testing.TB) tlsServer {
	return tlsServer{cert: testenv.SelfSigned(t, "mailpit test CA"), auth: testenv.AuthFile(t, user, password)}
}

func (s tlsServer) flags(extra ...string) []string {
	return append([]string{"--smtp-tls-cert", s.cert.Cert, "--smtp-tls-key", s.cert.Key, "--smtp-auth-file", s.auth}, extra...)
}

func TestNotifyDelivers(t *testing.T) {
	srv := newTLSServer(t)
	tests := []struct {
		name     string
		flags    []string
		security string
		login    bool
	}{
		{name: "starttls with login", flags: srv.flags("--smtp-require-starttls"), security: "starttls", login: true},
		{name: "implicit tls with login", flags: srv.flags("--smtp-require-tls"), security: "tls", login: true},
		{name: "plain relay without login", security: "none"},
		{name: "plain relay with login, chosen explicitly", flags: []string{"--smtp-auth-file", srv.auth, "--smtp-auth-allow-insecure"}, security: "none", login: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp := testenv.StartMailpit(t, tt.flags...)
			c := channelConfig(mp.Port, tt.security)
			if tt.security != "none" {
				c.CAFile = srv.cert.CA
			}
			if tt.login {
				c.Username, c.Password = user, password
			}
			var log notifiertest.Log
			n := newNotifier(t, c)
			n.Log = log.Logger()
			r := sampleReport()

			retry, err := n.Notify(context.Background(), r)
			if err != nil {
				t.Fatalf("Notify: retry=%v, %v", retry, err)
			}

			msgs := mp.Messages(t, 1)
			if len(msgs) != 1 {
				t.Fatalf("mailpit holds %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.Subject != r.Subject() {
				t.Errorf("subject %q, want %q", m.Subject, r.Subject())
			}
			if m.From.Address != c.From {
				t.Errorf("from %q, want %q", m.From.Address, c.From)
			}
			var to []string
			for _, a := range m.To {
				to = append(to, a.Address)
			}
			if strings.Join(to, ",") != strings.Join(c.To, ",") {
				t.Errorf("to %v, want %v", to, c.To)
			}
			if len(m.Bcc) != 0 || len(m.Cc) != 0 {
				t.Errorf("extra recipients: cc %v, bcc %v", m.Cc, m.Bcc)
			}
			if want := "3f2a9c1e-run-7-email-0-@odoo-notify"; m.MessageID != want {
				t.Errorf("Message-ID %q, want %q", m.MessageID, want)
			}
			for _, want := range []string{r.Summary, "psycopg2.OperationalError: connection to server", "Exit:       exited 1"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text part lacks %q:\n%s", want, m.Text)
				}
			}
			for _, want := range []string{"<h2", "Odoo could not reach its database.", "connection to server at &#34;db&#34; failed"} {
				if !strings.Contains(m.HTML, want) {
					t.Errorf("HTML part lacks %q:\n%s", want, m.HTML)
				}
			}
			h := mp.Headers(t, m.ID)
			if len(h["Date"]) != 1 {
				t.Errorf("Date header: %q", h["Date"])
			}
			if got := h["Auto-Submitted"]; len(got) != 1 || got[0] != "auto-generated" {
				t.Errorf("Auto-Submitted header: %q", got)
			}
			if !strings.Contains(log.String(), "mail accepted") || !strings.Contains(log.String(), "message_id=") {
				t.Errorf("no line for the accepted mail in the log:\n%s", log.String())
			}
		})
	}
}

func TestNotifyRedeliveryKeepsMessageID(t *testing.T) {
	mp := testenv.StartMailpit(t)
	n := newNotifier(t, channelConfig(mp.Port, "none"))
	for range 2 {
		if _, err := n.Notify(context.Background(), sampleReport()); err != nil {
			t.Fatal(err)
		}
	}
	msgs := mp.Messages(t, 2)
	if len(msgs) != 2 || msgs[0].MessageID != msgs[1].MessageID {
		t.Fatalf("two sends of one report should carry one Message-ID, got %+v", msgs)
	}
}

func TestNotifyFailures(t *testing.T) {
	srv := newTLSServer(t)
	other := testenv.SelfSigned(t, "some other CA")
	starttls := testenv.StartMailpit(t, srv.flags("--smtp-require-starttls")...)
	implicit := testenv.StartMailpit(t, srv.flags("--smtp-require-tls")...)
	plain := testenv.StartMailpit(t)
	down := testenv.FreePort(t)

	tests := []struct {
		name      string
		port      int
		security  string
		ca        string
		login     string // password, when set
		wantRetry bool
		want      []string
	}{
		{name: "wrong password", port: starttls.Port, security: "starttls", ca: srv.cert.CA, login: password + "-wrong",
			want: []string{"authentication failed (535)", "check username and password"}},
		{name: "no login where one is required", port: starttls.Port, security: "starttls", ca: srv.cert.CA,
			want: []string{"(530)", "set username and password"}},
		{name: "starttls required, server offers none", port: plain.Port, security: "starttls", login: password,
			want: []string{"does not offer STARTTLS", "refuses to send in clear"}},
		{name: "starttls, certificate from an untrusted CA", port: starttls.Port, security: "starttls", ca: other.CA, login: password,
			want: []string{"certificate does not verify", "set ca_file"}},
		{name: "starttls, self-signed certificate, system CAs", port: starttls.Port, security: "starttls", login: password,
			want: []string{"certificate does not verify"}},
		{name: "implicit tls, certificate from an untrusted CA", port: implicit.Port, security: "tls", ca: other.CA, login: password,
			want: []string{"certificate does not verify", "set ca_file"}},
		{name: "implicit tls on a plain port", port: plain.Port, security: "tls", login: password,
			want: []string{"does not speak TLS on this port", "starttls"}},
		{name: "server down", port: down, security: "starttls", login: password, wantRetry: true,
			want: []string{"cannot reach the server", "check host and port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := channelConfig(tt.port, tt.security)
			c.CAFile = tt.ca
			if tt.login != "" {
				c.Username, c.Password = user, config.Secret(tt.login)
			}
			var log notifiertest.Log
			n := newNotifier(t, c)
			n.Log = log.Logger()
			retry, err := n.Notify(context.Background(), sampleReport())
			if err == nil {
				t.Fatal("Notify succeeded, want an error")
			}
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v (%v)", retry, tt.wantRetry, err)
			}
			msg := err.Error()
			t.Logf("retry=%v error: %s", retry, msg)
			for _, want := range append([]string{"email: send via 127.0.0.1:" + strconv.Itoa(tt.port)}, tt.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q:\n%s", want, msg)
				}
			}
			if tt.login != "" {
				notifiertest.NoSecret(t, tt.login, msg, log.String())
			}
		})
	}
	for _, mp := range []*testenv.Mailpit{starttls, implicit, plain} {
		if msgs := mp.Messages(t, 0); len(msgs) != 0 {
			t.Errorf("a failed send left %d messages in mailpit", len(msgs))
		}
	}
}

// TestSMTPReplies drives the replies mailpit cannot be made to give.
func TestSMTPReplies(t *testing.T) {
	tests := []struct {
		name      string
		script    script
		login     bool
		wantRetry bool
		want      []string
	}{
		{name: "421 at greeting", script: script{Greeting: "421 4.3.2 too busy, try later"}, wantRetry: true,
			want: []string{"not taking mail now (421)", "too busy"}},
		{name: "450 at RCPT", script: script{Rcpt: "450 4.2.1 mailbox busy"}, wantRetry: true,
			want: []string{"recipient is not available now (450)", "mailbox busy"}},
		{name: "451 at MAIL", script: script{Mail: "451 4.3.0 local error"}, wantRetry: true,
			want: []string{"temporary failure (451)"}},
		{name: "452 at DATA end", script: script{Data: "452 4.3.1 out of storage"}, wantRetry: true,
			want: []string{"temporary failure (452)"}},
		{name: "454 at AUTH", script: script{Auth: "454 4.7.0 auth backend down"}, login: true, wantRetry: true,
			want: []string{"login failed for now (454)"}},
		{name: "535 at AUTH", script: script{Auth: "535 5.7.8 authentication credentials invalid"}, login: true,
			want: []string{"authentication failed (535)", "check username and password"}},
		{name: "550 at RCPT", script: script{Rcpt: "550 5.1.1 no such user"},
			want: []string{"recipient rejected (550)", "check to", "no such user"}},
		{name: "553 at MAIL", script: script{Mail: "553 5.7.1 sender not owned by login"},
			want: []string{"sender rejected (553)", "check from"}},
		{name: "554 at DATA end", script: script{Data: "554 5.7.1 message refused as spam"},
			want: []string{"refused the mail (554)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serveSMTP(t, tt.script)
			c := channelConfig(srv.Port, "none")
			if tt.login {
				c.Username, c.Password = user, password
			}
			retry, err := newNotifier(t, c).Notify(context.Background(), sampleReport())
			if err == nil {
				t.Fatal("Notify succeeded, want an error")
			}
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v (%v)", retry, tt.wantRetry, err)
			}
			t.Logf("retry=%v error: %v", retry, err)
			for _, want := range append([]string{"email: send via " + srv.Addr()}, tt.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestNotifyAcceptedThenCloseFails: once the server took the mail, a
// failing RSET or QUIT must not make the report go out twice.
func TestNotifyAcceptedThenCloseFails(t *testing.T) {
	srv := serveSMTP(t, script{Rset: "421 4.4.2 closing connection"})
	var log notifiertest.Log
	n := newNotifier(t, channelConfig(srv.Port, "none"))
	n.Log = log.Logger()
	retry, err := n.Notify(context.Background(), sampleReport())
	if err != nil || retry {
		t.Fatalf("got retry=%v, %v; want the mail counted as sent", retry, err)
	}
	if !strings.Contains(log.String(), "mail accepted") || !strings.Contains(log.String(), "queued as 42") {
		t.Errorf("log does not show the accepted mail and the server's answer:\n%s", log.String())
	}
}

// TestNoSecret forces failures, some from a server that echoes the
// credentials it got, and checks the password reaches no error and no log
// line, through the Dispatcher as a run would use it.
func TestNoSecret(t *testing.T) {
	srv := newTLSServer(t)
	srv.auth = testenv.AuthFile(t, user, "the-right-one")
	mp := testenv.StartMailpit(t, srv.flags("--smtp-require-starttls")...)
	tests := []struct {
		name string
		c    func() config.Email
	}{
		{name: "mailpit, wrong password", c: func() config.Email {
			c := channelConfig(mp.Port, "starttls")
			c.CAFile = srv.cert.CA
			return c
		}},
		{name: "server echoes AUTH PLAIN", c: func() config.Email {
			return channelConfig(serveSMTP(t, script{Auth: "535 5.7.8 bad credentials %s"}).Port, "none")
		}},
		{name: "server echoes AUTH PLAIN as a 4xx", c: func() config.Email {
			return channelConfig(serveSMTP(t, script{Auth: "454 4.7.0 retry later for %s"}).Port, "none")
		}},
		{name: "server echoes AUTH LOGIN", c: func() config.Email {
			return channelConfig(serveSMTP(t, script{Mechs: "LOGIN", Auth: "535 5.7.8 bad credentials %s"}).Port, "none")
		}},
		{name: "server echoes the password decoded", c: func() config.Email {
			return channelConfig(serveSMTP(t, script{Auth: "535 5.7.8 password " + password + " is wrong"}).Port, "none")
		}},
		{name: "server down", c: func() config.Email { return channelConfig(testenv.FreePort(t), "starttls") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c()
			c.Username, c.Password = user, password
			var log notifiertest.Log
			n := newNotifier(t, c)
			n.Log = log.Logger()
			d := notifiers.Dispatcher{
				Log:    log.Logger(),
				Policy: notifiers.Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 2},
			}
			res := d.Deliver(context.Background(), notifiers.Channel{Kind: "email", Name: c.Name, Notifier: n}, sampleReport())
			if res.Err == nil {
				t.Fatal("delivery succeeded, want an error")
			}
			texts := []string{res.Err.Error(), log.String()}
			t.Logf("error: %v\nlog:\n%s", res.Err, log.String())
			notifiertest.NoSecret(t, password, texts...)
			for _, form := range secretForms(user, password) {
				notifiertest.NoSecret(t, form, texts...)
			}
		})
	}
}

// TestHostileReport sends log text that tries to add a header and a
// script, plus invalid UTF-8 and a 10 MB line: the mail goes out, to the
// configured recipients only, with the script escaped.
func TestHostileReport(t *testing.T) {
	mp := testenv.StartMailpit(t)
	c := channelConfig(mp.Port, "none")
	r := sampleReport()
	inject := "boom\r\nBcc: evil@example.com\r\n\r\n<script>alert(1)</script>"
	r.Unit = "odoo.service\r\nBcc: evil@example.com"
	r.Summary = inject
	r.Exception.Message = inject
	r.Hints = []string{"\xff\xfe not UTF-8 \xc3"}
	r.Lines = append(r.Lines,
		report.Line{Message: inject},
		report.Line{Message: "bad bytes \xff\xfe\xfd end"},
		report.Line{Message: strings.Repeat("x", 10<<20)},
	)

	if retry, err := newNotifier(t, c).Notify(context.Background(), r); err != nil {
		t.Fatalf("Notify: retry=%v, %v", retry, err)
	}
	msgs := mp.Messages(t, 1)
	if len(msgs) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if len(m.Bcc) != 0 || len(m.Cc) != 0 || len(m.To) != len(c.To) {
		t.Errorf("recipients changed: to %v, cc %v, bcc %v", m.To, m.Cc, m.Bcc)
	}
	h := mp.Headers(t, m.ID)
	for _, k := range []string{"Bcc", "Cc"} {
		if _, ok := h[k]; ok {
			t.Errorf("header %s was injected: %q", k, h[k])
		}
	}
	raw := mp.Raw(t, m.ID)
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	for _, l := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "bcc:") {
			t.Errorf("raw header line %q", l)
		}
	}
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("HTML part does not escape the script:\n%s", report.Truncate(m.HTML, 4000))
	}
	if !utf8.ValidString(m.Text) || !strings.Contains(m.Text, "bad bytes \uFFFD") {
		t.Errorf("text part is not clean UTF-8")
	}
	if !strings.Contains(m.Text, report.CutMark) || len(m.Text) > 1<<20 {
		t.Errorf("the 10 MB line was not cut: text is %d bytes", len(m.Text))
	}
	if strings.ContainsAny(m.Subject, "\r\n") || !strings.Contains(m.Subject, "odoo.service  Bcc: evil@example.com") {
		t.Errorf("subject %q should keep the text on one line", m.Subject)
	}
}

// TestNotifyHonoursContext: a server that accepts and then says nothing
// must not hold a run past its context.
func TestNotifyHonoursContext(t *testing.T) {
	tests := []struct {
		name    string
		stop    func(ctx context.Context) (context.Context, context.CancelFunc)
		wantErr error
	}{
		{name: "cancelled", stop: context.WithCancel, wantErr: context.Canceled},
		{name: "deadline", stop: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 200*time.Millisecond)
		}, wantErr: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serveSMTP(t, script{Silent: true})
			c := channelConfig(srv.Port, "none")
			c.Timeout.Duration = 10 * time.Minute
			ctx, cancel := tt.stop(context.Background())
			defer cancel()
			type result struct {
				retry bool
				err   error
			}
			done := make(chan result, 1)
			go func() {
				retry, err := newNotifier(t, c).Notify(ctx, sampleReport())
				done <- result{retry, err}
			}()
			<-srv.accepted
			if tt.wantErr == context.Canceled {
				cancel()
			}
			var res result
			select {
			case res = <-done:
			case <-time.After(time.Minute):
				t.Fatal("Notify did not return after its context ended")
			}
			if !errors.Is(res.err, tt.wantErr) || !res.retry {
				t.Errorf("got retry=%v, %v; want retry and %v", res.retry, res.err, tt.wantErr)
			}
		})
	}
}

func TestMessageID(t *testing.T) {
	tests := []struct {
		name, id, want string
	}{
		{name: "plain", id: "3f2a9c1e", want: "3f2a9c1e@odoo-notify"},
		{name: "atext kept", id: "a+b=c_d-e", want: "a+b=c_d-e@odoo-notify"},
		{name: "brackets, at, space and colon replaced", id: "<a@b c:d>", want: "-a-b-c-d-@odoo-notify"},
		{name: "header injection", id: "x\r\nBcc: evil@example.com", want: "x--Bcc--evil-example.com@odoo-notify"},
		{name: "dots trimmed and single", id: ".a..b.", want: "a.b@odoo-notify"},
		{name: "non-ASCII replaced", id: "rapport-é", want: "rapport--@odoo-notify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MessageID(tt.id); got != tt.want {
				t.Errorf("MessageID(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
	t.Run("empty id is random", func(t *testing.T) {
		a, b := MessageID(""), MessageID("")
		if a == b || !strings.HasSuffix(a, "@odoo-notify") || len(a) < 32 {
			t.Errorf("MessageID(\"\") gave %q and %q", a, b)
		}
	})
}

func TestNewCAFile(t *testing.T) {
	notPEM := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ca, want string
	}{
		{name: "missing file", ca: t.TempDir() + "/nope.pem", want: "email: read ca_file"},
		{name: "not PEM", ca: notPEM, want: "holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := channelConfig(25, "starttls")
			c.CAFile = tt.ca
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSecretFormsCoverPLAIN(t *testing.T) {
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	n := newNotifier(t, config.Email{Host: "h", Port: 1, Username: user, Password: password})
	if got := n.clean("535 echo " + plain); strings.Contains(got, plain) {
		t.Errorf("clean kept the AUTH PLAIN blob: %q", got)
	}
}

// TestNotifySilentServer: with no deadline in ctx, the channel's timeout
// still ends a wait on a server that never answers, and the report is kept
// for a retry.
func TestNotifySilentServer(t *testing.T) {
	srv := serveSMTP(t, script{Silent: true})
	c := channelConfig(srv.Port, "none")
	c.Timeout.Duration = 200 * time.Millisecond
	retry, err := newNotifier(t, c).Notify(context.Background(), sampleReport())
	if err == nil || !retry || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("got retry=%v, %v; want a retried timeout", retry, err)
	}
}
