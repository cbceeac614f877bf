// Package email sends crash reports by SMTP: a plain-text body with an HTML
// alternative, one mail per report, to every recipient of an [[email]]
// channel. It decides in one place (classify) which SMTP failures are worth
// retrying, and no password ever reaches an error or a log line.
package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/report"
)

// Notifier sends reports through one SMTP server.
type Notifier struct {
	c    config.Email
	addr string // host:port, as errors name the server
	tls  *tls.Config
	// secrets are the forms of the password that could come back in a
	// server's answer; they are cut from every error.
	secrets []string
	// Log gets one line per accepted mail, with the server's answer (its
	// queue ID); nil discards.
	Log *slog.Logger
	now func() time.Time
	// boundary, when set, is the MIME boundary: golden tests need one
	// that does not change.
	boundary string
}

// New builds the notifier for a validated [[email]] channel. Its error says
// what to fix in ca_file.
func New(c config.Email) (*Notifier, error) {
	n := &Notifier{
		c:    c,
		addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		tls:  &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12},
		now:  time.Now,
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("email: read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("email: ca_file %s holds no PEM certificate: give the CA that signs the server's certificate, in PEM form", c.CAFile)
		}
		n.tls.RootCAs = pool
	}
	n.secrets = secretForms(c.Username, c.Password.Reveal())
	return n, nil
}

// Notify sends r as one mail. retry is true for what may pass later: SMTP
// 4xx answers, network errors, the deadline. A mail the server accepted is
// never reported as failed, so a retry never sends it twice.
func (n *Notifier) Notify(ctx context.Context, r *report.Report) (retry bool, err error) {
	msg, err := n.message(r)
	if err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return true, fmt.Errorf("email: send via %s: %w", n.addr, err)
	}
	// timeout bounds each SMTP command against a server that stops
	// answering; ctx, through dial, bounds the whole delivery.
	timeout := n.c.Timeout.Duration
	if timeout <= 0 {
		timeout = config.DefaultChannelTimeout
	}
	var stop func() bool
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := n.dial(dctx, network, addr)
		if err == nil {
			// go-mail bounds each command by a timeout; closing the
			// connection is what makes ctx end a transfer in the middle.
			stop = context.AfterFunc(ctx, func() { conn.Close() })
		}
		return conn, err
	}
	client, err := mail.NewClient(n.c.Host, n.options(timeout, dial)...)
	if err != nil {
		return false, n.wrap(fmt.Errorf("email: set up client for %s: %w", n.addr, err))
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if stop != nil {
		stop()
	}
	if msg.IsDelivered() {
		if err != nil {
			// Accepted, then QUIT or RSET failed: the mail is on its way.
			n.log().Warn("mail accepted, closing the connection failed", "server", n.addr, "message_id", msg.GetMessageID(), "error", n.wrap(err))
		}
		n.log().Info("mail accepted", "server", n.addr, "message_id", msg.GetMessageID(), "response", n.clean(msg.ServerResponse()))
		return false, nil
	}
	if err == nil {
		return true, fmt.Errorf("email: send via %s: the server did not confirm the mail", n.addr)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return true, n.wrap(fmt.Errorf("email: send via %s: %w (last error: %v)", n.addr, ctxErr, err))
	}
	retry, what := classify(err)
	return retry, n.wrap(fmt.Errorf("email: send via %s: %s: %w", n.addr, what, err))
}

func (n *Notifier) log() *slog.Logger {
	if n.Log != nil {
		return n.Log
	}
	return slog.New(slog.DiscardHandler)
}

// options configure go-mail for one delivery. The password goes to the
// server only over TLS, or in clear when security = "none" says so.
func (n *Notifier) options(timeout time.Duration, dial mail.DialContextFunc) []mail.Option {
	opts := []mail.Option{
		mail.WithPort(n.c.Port),
		mail.WithTimeout(timeout),
		mail.WithTLSConfig(n.tls),
		mail.WithDialContextFunc(dial),
	}
	switch n.c.Security {
	case "tls", "none":
		// "tls" is encrypted by dial before the greeting.
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if n.c.Username != "" {
		prefs := []mail.SMTPAuthType{mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1, mail.SMTPAuthPlain, mail.SMTPAuthLogin, mail.SMTPAuthCramMD5}
		if n.c.Security == "none" {
			prefs = []mail.SMTPAuthType{mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1, mail.SMTPAuthCramMD5, mail.SMTPAuthPlainNoEnc, mail.SMTPAuthLoginNoEnc}
		}
		opts = append(opts,
			mail.WithUsername(n.c.Username),
			mail.WithPassword(n.c.Password.Reveal()),
			mail.WithOpportunisticSMTPAuth(prefs...))
	}
	return opts
}

// dial connects, and for security = "tls" completes the TLS handshake
// before go-mail reads the greeting. The *tls.Conn is returned as it is:
// go-mail's PLAIN and LOGIN refuse to send a password unless they see one.
func (n *Notifier) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil || n.c.Security != "tls" {
		return conn, err
	}
	tc := tls.Client(conn, n.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// message builds the mail. Header values come from the config and from
// one-line text; go-mail encodes every header value (RFC 2047), so report
// text cannot add a header.
func (n *Notifier) message(r *report.Report) (*mail.Msg, error) {
	opts := []mail.MsgOption{mail.WithNoDefaultUserAgent()}
	if n.boundary != "" {
		opts = append(opts, mail.WithBoundary(n.boundary))
	}
	m := mail.NewMsg(opts...)
	if err := m.From(n.c.From); err != nil {
		return nil, fmt.Errorf("email: from %q: %w: fix from in the config", n.c.From, err)
	}
	if err := m.To(n.c.To...); err != nil {
		return nil, fmt.Errorf("email: to: %w: fix to in the config", err)
	}
	m.Subject(report.ValidUTF8(report.OneLine(r.Subject())))
	m.SetMessageIDWithValue(MessageID(r.ID))
	if in := r.Incident; in != nil && in.ThreadID != "" && r.IsFollowUp() {
		// A follow-up replies to the opening mail: one conversation.
		opening := "<" + MessageID(in.ThreadID) + ">"
		m.SetGenHeader(mail.HeaderInReplyTo, opening)
		m.SetGenHeader(mail.HeaderReferences, opening)
	}
	m.SetDateWithValue(n.now())
	m.SetUserAgent("odoo-notify")
	// RFC 3834: keep vacation responders from answering a crash report.
	m.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	m.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	m.SetBodyString(mail.TypeTextPlain, report.ValidUTF8(r.Text()))
	if html, err := r.HTML(); err == nil {
		m.AddAlternativeString(mail.TypeTextHTML, report.ValidUTF8(html))
	} else {
		// The text part carries everything: send it alone rather than
		// lose the report.
		n.log().Warn("sending the text part only", "server", n.addr, "error", err)
	}
	return m, nil
}

// MessageID is the Message-ID (without angle brackets) for a report ID:
// the same ID gives the same Message-ID, so a receiver can drop a
// redelivered report. Characters a Message-ID may not hold become "-". An
// empty ID gives a random one.
func MessageID(id string) string {
	var b strings.Builder
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r):
			b.WriteRune(r)
		case r == '.':
			// dot-atom: no leading, trailing or double dot
			if s := b.String(); s != "" && !strings.HasSuffix(s, ".") {
				b.WriteRune(r)
			}
		default:
			b.WriteRune('-')
		}
		if b.Len() >= 200 {
			break
		}
	}
	left := strings.TrimSuffix(b.String(), ".")
	if left == "" {
		var rnd [16]byte
		_, _ = rand.Read(rnd[:])
		left = hex.EncodeToString(rnd[:])
	}
	return left + "@odoo-notify"
}
