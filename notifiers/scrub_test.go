package notifiers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestScrub(t *testing.T) {
	const hook = "https://hooks.slack.com/services/T000/B000/SECRETxyz"
	tests := []struct {
		name    string
		err     error
		secrets []string
		want    string
	}{
		{"echoed path", errors.New("HTTP 404 Not Found: Cannot POST /services/T000/B000/SECRETxyz"), URLSecrets(hook), "HTTP 404 Not Found: Cannot POST <secret>"},
		{"echoed key", errors.New("HTTP 403 Forbidden: bad key SECRETxyz"), URLSecrets(hook), "HTTP 403 Forbidden: bad key <secret>"},
		{"query token", errors.New("HTTP 401: token=abcdef123 rejected"), URLSecrets("https://x.example/h?token=abcdef123"), "HTTP 401: <secret> rejected"},
		{"header value", errors.New("HTTP 401: Bearer tok-123456 is not valid"), []string{"Bearer tok-123456"}, "HTTP 401: <secret> is not valid"},
		{"short secret ignored", errors.New("HTTP 500: code 1"), []string{"1"}, "HTTP 500: code 1"},
		{"nothing to hide", errors.New("connection refused"), URLSecrets(hook), "connection refused"},
		{"escaped token", errors.New("HTTP 302: next=tok%3Ak3y%2F123"), URLSecrets("https://x.example/h?token=tok:k3y/123"), "HTTP 302: next=<secret>"},
		{"url password", errors.New("HTTP 400: got pa55w0rd-x"), URLSecrets("https://bob:pa55w0rd-x@x.example/h"), "HTTP 400: got <secret>"},
		{"url basic auth", errors.New("HTTP 400: Authorization: Basic Ym9iOnBhNTV3MHJkLXg="), URLSecrets("https://bob:pa55w0rd-x@x.example/h"), "HTTP 400: Authorization: Basic <secret>"},
		{"url user token", errors.New("HTTP 401: bad key TOKEN123abc"), URLSecrets("https://TOKEN123abc@x.example/h"), "HTTP 401: bad key <secret>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Scrub(tt.err, tt.secrets...)
			if got.Error() != tt.want {
				t.Errorf("Scrub() = %q, want %q", got, tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Error("Scrub() dropped the original error from the chain")
			}
		})
	}
}

func TestScrubKeepsRetryAfter(t *testing.T) {
	inner := &RetryAfterError{After: 3, Err: &StatusError{Code: 429, Body: "slow down SECRETxyz"}}
	err := Scrub(fmt.Errorf("post: %w", inner), "SECRETxyz")
	var ra *RetryAfterError
	if !errors.As(err, &ra) || ra.After != 3 {
		t.Fatalf("Scrub() lost the *RetryAfterError: %v", err)
	}
	if strings.Contains(err.Error(), "SECRETxyz") {
		t.Errorf("Scrub() = %q, still holds the secret", err)
	}
	if Scrub(nil, "x") != nil {
		t.Error("Scrub(nil) != nil")
	}
}

// A long answer is read up to MaxBody, which may cut a secret; once the
// secrets before it are hidden, its start would fall within the quote.
func TestPostJSONHidesASecretCutByTheRead(t *testing.T) {
	const key = "KEYq7W3rT9yU1iO5pAsD4fG6hJ8kL0zX2cV"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := "http://" + r.Host + r.URL.Path
		body := strings.Repeat(target+" ", MaxBody/len(target+" "))
		body += strings.Repeat("x", MaxBody-len(body)-10) + key + strings.Repeat(" more", 100)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	target := srv.URL + "/services/T0/B0/" + key
	_, err := PostJSON(context.Background(), srv.Client(), target, nil, []byte("{}"), URLSecrets(target)...)
	if err == nil {
		t.Fatal("PostJSON: no error for a 400")
	}
	if msg := err.Error(); strings.Contains(msg, key[:minSecret+1]) || !strings.Contains(msg, "<secret>") {
		t.Errorf("PostJSON() = %q: the cut key shows, or nothing was hidden", msg)
	}
}
