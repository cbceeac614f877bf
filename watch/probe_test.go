package watch

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/web/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status": "pass"}`))
	})
	mux.HandleFunc("/web/login", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>login</html>")) })
	mux.HandleFunc("/web", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/web/login", http.StatusSeeOther) })
	mux.HandleFunc("/sick", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("{\"status\": \"fail\",\n \"db_server_status\": false}" + strings.Repeat("x", 500)))
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/slowbody", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)

	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/web/health"
	l.Close()

	tests := []struct {
		name, url string
		ok        bool
		kind      string
		status    int
		excerpt   string
		line      string
	}{
		{name: "Odoo's health route", url: srv.URL + "/web/health", ok: true, status: 200, line: "HTTP 200 in "},
		{name: "a redirect is an answer, not followed", url: srv.URL + "/web", ok: true, status: 303},
		{name: "Odoo < 15: no /web/health", url: srv.URL + "/web/nothing", kind: KindStatus, status: 404, excerpt: "404 page not found"},
		{name: "a 500 with its body's start on one line", url: srv.URL + "/sick", kind: KindStatus, status: 500,
			excerpt: `{"status": "fail", "db_server_status": false}xxx`, line: `HTTP 500 in `},
		{name: "no answer is a timeout", url: srv.URL + "/hang", kind: KindTimeout, line: "timeout: no answer in "},
		{name: "headers then a body that never ends is a timeout", url: srv.URL + "/slowbody", kind: KindTimeout, status: 200},
		{name: "nothing listens", url: closed, kind: KindRefused, line: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Prober{URL: tt.url, Timeout: 300 * time.Millisecond}
			start := time.Now()
			r := p.Probe(context.Background())
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("the probe took %s with a 300ms timeout", took)
			}
			if r.OK() != tt.ok || r.Kind != tt.kind || r.Status != tt.status || !strings.HasPrefix(r.Excerpt, tt.excerpt) {
				t.Errorf("got %+v; want ok %v kind %q status %d excerpt %q", r, tt.ok, tt.kind, tt.status, tt.excerpt)
			}
			if len(r.Excerpt) > excerptBytes+len("…") {
				t.Errorf("excerpt of %d bytes", len(r.Excerpt))
			}
			if tt.kind == KindTimeout && r.Duration < 300*time.Millisecond {
				t.Errorf("a timeout after %s", r.Duration)
			}
			if !strings.Contains(r.String(), tt.line) {
				t.Errorf("String() = %q, want it to say %q", r.String(), tt.line)
			}
		})
	}
}
