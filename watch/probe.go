package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// How a probe failed.
const (
	// KindTimeout: no answer within the timeout.
	KindTimeout = "timeout"
	// KindRefused: nothing listens (connection refused).
	KindRefused = "refused"
	// KindStatus: an answer, with a status other than 2xx or 3xx.
	KindStatus = "status"
	// KindError: any other network error.
	KindError = "error"
)

// excerptBytes bounds the body a probe keeps.
const excerptBytes = 200

// Result is one probe of the health URL.
type Result struct {
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"duration"`
	// Status is the HTTP status, 0 with no answer.
	Status int `json:"status,omitempty"`
	// Kind is how it failed; empty when it was answered well.
	Kind string `json:"kind,omitempty"`
	// Error is the network error, Excerpt the start of the body.
	Error   string `json:"error,omitempty"`
	Excerpt string `json:"excerpt,omitempty"`
}

// OK says the probe was answered with a 2xx or 3xx status.
func (r Result) OK() bool { return r.Kind == "" && r.Status >= 200 && r.Status < 400 }

// String is one line for a person: "15:04:05 timeout after 5s",
// "15:04:05 HTTP 500 in 12ms: {"status": "fail"}".
func (r Result) String() string {
	t := r.At.UTC().Format("15:04:05")
	d := r.Duration.Round(time.Millisecond)
	switch r.Kind {
	case "":
		return fmt.Sprintf("%s HTTP %d in %s", t, r.Status, d)
	case KindTimeout:
		return fmt.Sprintf("%s timeout: no answer in %s", t, d)
	case KindRefused:
		return fmt.Sprintf("%s connection refused", t)
	case KindStatus:
		s := fmt.Sprintf("%s HTTP %d in %s", t, r.Status, d)
		if r.Excerpt != "" {
			s += ": " + r.Excerpt
		}
		return s
	}
	return fmt.Sprintf("%s %s", t, r.Error)
}

// Prober probes one URL with GET.
type Prober struct {
	URL     string
	Timeout time.Duration
	// Client must not follow redirects to another host unasked; nil
	// builds one without keep-alive, so each probe is a new connection as
	// a user's browser would need when the server hangs.
	Client *http.Client
	Now    func() time.Time
}

// NewClient is the HTTP client of a watcher: no connection reuse (a hung
// server must not look alive through an old connection), no redirects
// followed (Odoo's /web/login answers 200, /web 303).
func NewClient() *http.Client {
	t := &http.Transport{
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{}).DialContext,
		Proxy:             nil,
	}
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Probe makes one request and says how it went. It never returns an
// error: a failed probe is a Result.
func (p *Prober) Probe(ctx context.Context) Result {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	client := p.Client
	if client == nil {
		client = NewClient()
	}
	start := time.Now()
	r := Result{At: now()}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		r.Kind, r.Error = KindError, err.Error()
		return r
	}
	req.Header.Set("User-Agent", "odoo-notify-watch")
	resp, err := client.Do(req)
	if err != nil {
		r.Duration = time.Since(start)
		r.Kind, r.Error = classify(ctx, err)
		return r
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	r.Duration = time.Since(start)
	r.Status = resp.StatusCode
	if rerr != nil && ctx.Err() != nil {
		// The headers came, the body hangs: a hang all the same.
		r.Kind, r.Error = KindTimeout, "the body did not come within the timeout"
		return r
	}
	if r.Status < 200 || r.Status >= 400 {
		r.Kind, r.Excerpt = KindStatus, excerpt(body)
	}
	return r
}

func classify(ctx context.Context, err error) (kind, msg string) {
	var ne net.Error
	switch {
	case ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()):
		return KindTimeout, "no answer within the timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused, "connection refused"
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return KindError, inner.Error()
		}
	}
	return KindError, err.Error()
}

// excerpt is the body's start on one line, valid UTF-8.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= excerptBytes {
		return s
	}
	cut := excerptBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
