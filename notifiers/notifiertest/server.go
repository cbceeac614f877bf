package notifiertest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/report"
)

// Answer is one reply of a fake service, exactly as the service sends it.
type Answer struct {
	Code        int
	Body        string
	ContentType string // default application/json
	RetryAfter  string // the Retry-After header, when set
}

// Request is what the fake service got.
type Request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// Server is an httptest server that answers with the scripted answers in
// turn, then with OK, and records every request.
type Server struct {
	*httptest.Server
	OK Answer

	mu      sync.Mutex
	answers []Answer
	got     []Request
}

// NewServer starts a fake service; ok is its success answer.
func NewServer(t testing.TB, ok Answer, answers ...Answer) *Server {
	s := &Server{OK: ok, answers: answers}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, Request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		a := s.OK
		if len(s.answers) > 0 {
			a, s.answers = s.answers[0], s.answers[1:]
		}
		s.mu.Unlock()
		ct := a.ContentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		if a.RetryAfter != "" {
			w.Header().Set("Retry-After", a.RetryAfter)
		}
		w.WriteHeader(a.Code)
		io.WriteString(w, a.Body)
	}))
	t.Cleanup(s.Close)
	return s
}

// Requests returns every request so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.got...)
}

// Bases are base URLs that fail every way a channel can: nothing listens,
// a proxy that quotes the request (path, query, Authorization header) in
// its 404, a certificate nobody trusts. Each maps to what the error must
// say.
func Bases(t testing.TB) map[string]string {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "Cannot %s %s (url http://%s%s, auth %q)", r.Method, r.URL.Path, r.Host, r.URL.String(), r.Header.Get("Authorization"))
	}))
	t.Cleanup(echo.Close)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshake is the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	return map[string]string{
		closed:     "connection refused",
		echo.URL:   "HTTP 404",
		tlsSrv.URL: "certificate",
	}
}

// Client is an HTTP client that trusts only the system's CAs, so the TLS
// case fails as a bad certificate would.
func Client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
}

// NoLeaks builds the channel against every failing base (scheme and host,
// no slash at the end), dispatches r with two attempts, and checks that the error says what failed and that no
// secret appears in the error, in a log line or in the printed notifier.
func NoLeaks(t *testing.T, kind string, build func(base string) notifiers.Notifier, r *report.Report, secrets ...string) {
	t.Helper()
	for base, want := range Bases(t) {
		t.Run(want, func(t *testing.T) {
			var log Log
			n := build(base)
			d := &notifiers.Dispatcher{
				Log:    log.Logger(),
				Policy: notifiers.Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 2},
				Sleep:  func(context.Context, time.Duration) error { return nil },
			}
			res := d.Dispatch(context.Background(), []notifiers.Channel{{Kind: kind, Name: "ops", Notifier: n}}, r, nil)
			err := notifiers.Join(res)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error = %v, want one saying %q", err, want)
			}
			for _, s := range secrets {
				NoSecret(t, s, err.Error(), log.String(), fmt.Sprintf("%v %+v", n, n))
			}
		})
	}
}

// Case is one answer of a service and what the channel must make of it.
type Case struct {
	Name      string
	Answer    Answer
	WantRetry bool
	// WantErr is a part of the error; "" means delivered.
	WantErr string
	// WantAfter is the wait a 429 asks for, when it says.
	WantAfter time.Duration
}

// Answers runs each case against a fake service that answers it once, and
// checks the retry decision, the error and the one POST to path.
func Answers(t *testing.T, ok Answer, path string, build func(*Server) notifiers.Notifier, cases []Case) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			s := NewServer(t, ok, tt.Answer)
			retry, err := build(s).Notify(context.Background(), Report())
			if retry != tt.WantRetry {
				t.Errorf("retry = %v, want %v (err: %v)", retry, tt.WantRetry, err)
			}
			switch {
			case tt.WantErr == "" && err != nil:
				t.Fatalf("Notify() = %v, want delivered", err)
			case tt.WantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.WantErr)):
				t.Fatalf("Notify() = %v, want an error containing %q", err, tt.WantErr)
			}
			var ra *notifiers.RetryAfterError
			if tt.WantAfter > 0 && (!errors.As(err, &ra) || ra.After != tt.WantAfter) {
				t.Errorf("retry after: got %v, want %v", ra, tt.WantAfter)
			}
			if got := s.Requests(); len(got) != 1 || got[0].Method != http.MethodPost || got[0].Path != path {
				t.Fatalf("the service got %+v, want one POST %s", got, path)
			}
		})
	}
}
