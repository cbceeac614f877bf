package notifiers

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxBody bounds how much of a response body is read for an error message.
const MaxBody = 1024

// StatusError is an HTTP answer other than 2xx.
type StatusError struct {
	Code int
	// Body is the start of the response body, cut to one line.
	Body string
	// Detail is the response body as read (at most MaxBody bytes), secrets
	// hidden, for a channel that decodes its service's error answer
	// (Telegram's description, Discord's retry_after). It is never printed.
	Detail []byte
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// PostJSON sends body to target with the given headers and classifies the
// answer in one place: 2xx delivered; 429 transient with its Retry-After; 5xx
// and network errors transient; every other answer final. Errors name the
// host only: a Slack webhook URL is itself the secret. secrets are hidden in
// the quoted answer before it is cut, so that none shows in part, and in the
// whole error (a proxy in front may quote the path, which holds the key).
func PostJSON(ctx context.Context, client *http.Client, target string, headers http.Header, body []byte, secrets ...string) (retry bool, err error) {
	retry, err = postJSON(ctx, client, target, headers, body, secrets)
	return retry, Scrub(err, secrets...)
}

func postJSON(ctx context.Context, client *http.Client, target string, headers http.Header, body []byte, secrets []string) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("bad URL %s: %w", RedactURL(target), redactErr(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "odoo-notify")
	for k, vs := range headers {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return !isPermanentNetErr(err), fmt.Errorf("post to %s: %w", RedactURL(target), redactErr(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); n > 0 {
		// The read may have cut a secret, which scrubbing would miss.
		snippet = []byte(trimPartial(string(snippet), secrets))
	}
	return Classify(resp, snippet, secrets...)
}

// Classify turns an HTTP response into the retry decision: 2xx ok; 429
// transient with Retry-After; 408, 5xx transient; other codes final. The
// body quoted in the error has secrets hidden first, then is cut.
func Classify(resp *http.Response, body []byte, secrets ...string) (retry bool, err error) {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	scrubbed := ScrubText(string(body), secrets...)
	se := &StatusError{Code: resp.StatusCode, Body: oneLine(scrubbed), Detail: []byte(scrubbed)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return true, &RetryAfterError{After: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), Err: se}
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return true, se
	}
	return false, se
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when the header is missing or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// RedactURL shows only the scheme and host of a URL: the path and query of a
// webhook address are often the secret itself.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<redacted URL>"
	}
	return u.Scheme + "://" + u.Host + "/<redacted>"
}

// redactErr strips the URL from a *url.Error, which would print it whole.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isPermanentNetErr says whether a transport error will not go away by
// retrying: a certificate that does not verify, an unsupported scheme.
func isPermanentNetErr(err error) bool {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return true
	case strings.Contains(err.Error(), "unsupported protocol scheme"):
		return true
	}
	return false
}

// PermanentNetErr says whether a transport error will not go away by
// retrying (a certificate that does not verify, an unsupported scheme), for
// a channel that posts through its service's client library.
func PermanentNetErr(err error) bool { return isPermanentNetErr(err) }

// RedactNetErr strips the URL from a transport error (a *url.Error prints
// it whole, and a proxy's URL may hold a password).
func RedactNetErr(err error) error { return redactErr(err) }
