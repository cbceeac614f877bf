package email

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/odoo-notify/odoo-notify/report"
)

// classify is the one place that decides whether a failed delivery may pass
// later, and says in a few words what went wrong and what to fix. SMTP 4xx
// answers and network errors are temporary; 5xx answers, certificates that
// do not verify and a server without STARTTLS are final. What it does not
// recognise is retried: a report is never given up on a guess.
func classify(err error) (retry bool, what string) {
	var (
		sendErr   *mail.SendError
		protoErr  *textproto.Error
		verifyErr *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		netErr    net.Error
	)
	msg := err.Error()
	switch {
	case errors.As(err, &sendErr) && sendErr.ErrorCode() != 0:
		return codeProblem(sendErr.ErrorCode(), stage(sendErr.Reason))
	case errors.As(err, &sendErr):
		switch sendErr.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts:
			return false, "bad address: fix from and to in the config"
		case mail.ErrNoUnencoded:
			return false, "the server does not take 8-bit mail"
		}
		return true, "connection lost while sending"
	case errors.As(err, &protoErr):
		st := "greeting"
		if strings.Contains(msg, "SMTP AUTH failed") {
			st = "auth"
		} else if strings.Contains(msg, "EHLO") || strings.Contains(msg, "HELO") {
			st = "hello"
		}
		return codeProblem(protoErr.Code, st)
	case errors.As(err, &verifyErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return false, "the server's certificate does not verify: set ca_file to the CA that signed it, or check host against the names in the certificate"
	case errors.As(err, &record):
		return false, "the server does not speak TLS on this port: security = \"tls\" wants the implicit-TLS port (465); for port 587 use \"starttls\""
	case strings.Contains(msg, "does not support STARTTLS"):
		return false, "the server does not offer STARTTLS, and security = \"starttls\" refuses to send in clear: enable STARTTLS on the server, use security = \"tls\" with its TLS port, or security = \"none\" for a local relay"
	case errors.Is(err, smtp.ErrUnencrypted):
		return false, "the password would go in clear: use security = \"starttls\" or \"tls\", or \"none\" to allow it on a trusted network"
	case strings.Contains(msg, "does not support SMTP AUTH"), errors.Is(err, mail.ErrNoSupportedAuthDiscovered):
		return false, "the server offers no login method odoo-notify can use: remove username and password, or enable PLAIN, LOGIN or SCRAM on the server"
	case errors.As(err, &netErr) && netErr.Timeout():
		return true, "the server did not answer in time"
	case errors.As(err, &netErr):
		return true, "cannot reach the server: check host and port, and that the server runs"
	}
	return true, "delivery failed"
}

// stage names the SMTP command a go-mail SendError failed at.
func stage(r mail.SendErrReason) string {
	switch r {
	case mail.ErrSMTPMailFrom:
		return "mail"
	case mail.ErrSMTPRcptTo:
		return "rcpt"
	case mail.ErrSMTPData, mail.ErrSMTPDataClose, mail.ErrWriteContent:
		return "data"
	}
	return ""
}

// codeProblem turns an SMTP reply code, and the stage that got it, into the
// retry decision and what an admin should do.
func codeProblem(code int, stage string) (retry bool, what string) {
	switch {
	case code == 421:
		return true, "the server is not taking mail now (421): it will be tried again"
	case code >= 400 && code < 500 && stage == "rcpt":
		return true, fmt.Sprintf("a recipient is not available now (%d): it will be tried again", code)
	case code >= 400 && code < 500 && stage == "auth":
		return true, fmt.Sprintf("login failed for now (%d): it will be tried again", code)
	case code >= 400 && code < 500:
		return true, fmt.Sprintf("temporary failure (%d): it will be tried again", code)
	case code == 530:
		return false, "the server requires a login (530): set username and password"
	case code == 534 || code == 535 || code == 538 || stage == "auth":
		return false, fmt.Sprintf("authentication failed (%d): check username and password", code)
	case stage == "rcpt":
		return false, fmt.Sprintf("recipient rejected (%d): check to in the config", code)
	case stage == "mail":
		return false, fmt.Sprintf("sender rejected (%d): check from in the config; the server may only let the login's own address send", code)
	case code == 552:
		return false, "mail too large for the server (552): lower general.journal_lines"
	case code == 554 || stage == "data":
		return false, fmt.Sprintf("the server refused the mail (%d): its log says why", code)
	case code >= 500:
		return false, fmt.Sprintf("the server refused (%d)", code)
	}
	return true, fmt.Sprintf("unexpected answer (%d)", code)
}

// secretForms lists how a password can appear on the wire: as it is, in
// base64 (AUTH LOGIN), and inside the base64 of AUTH PLAIN.
func secretForms(user, pass string) []string {
	if pass == "" {
		return nil
	}
	b64 := base64.StdEncoding.EncodeToString
	return []string{
		b64([]byte("\x00" + user + "\x00" + pass)),
		b64([]byte(user + "\x00" + user + "\x00" + pass)),
		b64([]byte(pass)),
		strings.TrimRight(b64([]byte(pass)), "="),
		pass,
	}
}

// clean makes server text safe for one log line: valid UTF-8, no line
// breaks, no password, bounded.
func (n *Notifier) clean(s string) string {
	for _, sec := range n.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "<secret>")
		}
	}
	s = strings.Join(strings.Fields(report.OneLine(report.ValidUTF8(s))), " ")
	return report.Truncate(s, 1000)
}

// cleanError keeps the chain of the error it wraps (errors.Is and As see
// through it) but prints the cleaned text.
type cleanError struct {
	msg string
	err error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.err }

func (n *Notifier) wrap(err error) error {
	if err == nil {
		return nil
	}
	return &cleanError{msg: n.clean(err.Error()), err: err}
}
