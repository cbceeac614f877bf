package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// sink is an HTTP endpoint on the host's loopback that records what it got
// and answers as the real service does: a Slack incoming webhook answers 200
// "ok" (text/plain), an alerting API 204.
type sink struct {
	*httptest.Server
	mu  sync.Mutex
	got []request
}

type request struct {
	Path   string
	Header http.Header
	Body   string
}

func newSink(t testing.TB, status int, contentType, answer string) *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, request{Path: r.URL.Path, Header: r.Header.Clone(), Body: string(b)})
		s.mu.Unlock()
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(s.Close)
	return s
}

// take returns what the sink got since the last take.
func (s *sink) take() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got
	s.got = nil
	return got
}
