package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// AlertmanagerBinary is Debian's prometheus-alertmanager.
func AlertmanagerBinary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Fatal("prometheus-alertmanager not found: apt-get install prometheus-alertmanager (scripts/deps installs it)")
	}
	return p
}

// Amtool is Alertmanager's own command-line client, from the same package.
func Amtool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("amtool")
	if err != nil {
		t.Fatal("amtool not found: apt-get install prometheus-alertmanager (scripts/deps installs it)")
	}
	return p
}

// Alertmanager is one running Alertmanager: its API at URL, its cluster
// (gossip) address at Cluster when it is one peer of several.
type Alertmanager struct {
	URL     string
	Cluster string
	cmd     *exec.Cmd
	out     *lockedBuffer
	exited  chan struct{}
}

// lockedBuffer is the process's output, written by exec's copying
// goroutine while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartAlertmanager runs a real Alertmanager until the test ends, with
// one route to a webhook receiver at receiver that sends what fires and
// what resolves within about a second. With no peers it runs alone
// (--cluster.listen-address= empty); with cluster set it joins the peers'
// gossip, as a member of an HA pair.
func StartAlertmanager(t testing.TB, receiver string, cluster bool, peers ...string) *Alertmanager {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`global:
  resolve_timeout: 5m
route:
  receiver: hook
  group_by: [alertname, host, unit]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %q
        send_resolved: true
`, receiver)
	confPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	am := &Alertmanager{URL: "http://127.0.0.1:" + strconv.Itoa(port), out: &lockedBuffer{}, exited: make(chan struct{})}
	args := []string{
		"--config.file=" + confPath,
		"--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(port),
		"--log.level=debug",
	}
	if cluster {
		am.Cluster = "127.0.0.1:" + strconv.Itoa(FreePort(t))
		args = append(args, "--cluster.listen-address="+am.Cluster, "--cluster.peer-timeout=2s", "--cluster.settle-timeout=1s",
			"--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=1s")
		for _, p := range peers {
			args = append(args, "--cluster.peer="+p)
		}
	} else {
		args = append(args, "--cluster.listen-address=")
	}
	am.cmd = exec.Command(AlertmanagerBinary(t), args...)
	am.cmd.Stdout, am.cmd.Stderr = am.out, am.out
	if err := am.cmd.Start(); err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	go func() { _ = am.cmd.Wait(); close(am.exited) }()
	t.Cleanup(am.Stop)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-am.exited:
			t.Fatalf("alertmanager %v exited at start:\n%s", args, am.out.String())
		default:
		}
		if resp, err := http.Get(am.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return am
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager did not get ready in 20 s:\n%s", am.out.String())
		}
	}
}

// Stop ends the Alertmanager (SIGTERM) and waits for it.
func (a *Alertmanager) Stop() {
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

// Log is what Alertmanager printed so far.
func (a *Alertmanager) Log() string { return a.out.String() }

// Alerts is what GET /api/v2/alerts answers: the alerts it holds now.
func (a *Alertmanager) Alerts(t testing.TB) []HeldAlert {
	t.Helper()
	resp, err := http.Get(a.URL + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var as []HeldAlert
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		t.Fatal(err)
	}
	return as
}

// HeldAlert is a gettableAlert.
type HeldAlert struct {
	Labels      map[string]string
	Annotations map[string]string
	StartsAt    time.Time
	EndsAt      time.Time
	Status      struct {
		State      string
		SilencedBy []string
	}
}

// Notified is one webhook notification as Alertmanager sends it.
type Notified struct {
	Status string
	Alerts []struct {
		Status      string
		Labels      map[string]string
		Annotations map[string]string
		StartsAt    time.Time
		EndsAt      time.Time
	}
}

// AlertReceiver is the webhook receiver an Alertmanager's route points to:
// it keeps every notification it got.
type AlertReceiver struct {
	URL  string
	mu   sync.Mutex
	got  []Notified
	more chan struct{}
}

// NewAlertReceiver listens on a loopback port until the test ends.
func NewAlertReceiver(t testing.TB) *AlertReceiver {
	r := &AlertReceiver{more: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var n Notified
		if err := json.NewDecoder(req.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, n)
		r.mu.Unlock()
		select {
		case r.more <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/alerts"
	return r
}

// Got is every notification so far.
func (r *AlertReceiver) Got() []Notified {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Notified(nil), r.got...)
}

// WaitFor waits up to d for a notification of status ("firing",
// "resolved") and returns it; ok is false when none came.
func (r *AlertReceiver) WaitFor(status string, d time.Duration) (n Notified, ok bool) {
	deadline := time.After(d)
	for {
		for _, n := range r.Got() {
			if n.Status == status {
				return n, true
			}
		}
		select {
		case <-r.more:
		case <-deadline:
			return Notified{}, false
		}
	}
}
