// Package testenv starts the real servers and writes the real files that
// odoo-notify's tests run against: mailpit (an SMTP server with an HTTP API),
// self-signed certificates, and journal files written by
// systemd-journal-remote. Only tests import it.
package testenv

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MailpitBinary finds mailpit in PATH, then in $(go env GOPATH)/bin.
func MailpitBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("mailpit not found: go install github.com/axllent/mailpit@v1.33.1")
	return ""
}

// CertFiles is a self-signed certificate for 127.0.0.1 and localhost that
// is its own CA: CA is what a client gives as ca_file.
type CertFiles struct{ Cert, Key, CA string }

// SelfSigned writes a certificate and key for cn, 127.0.0.1 and localhost.
func SelfSigned(t testing.TB, cn string) CertFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := CertFiles{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	f.CA = f.Cert
	write := func(path, typ string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(f.Cert, "CERTIFICATE", der)
	write(f.Key, "PRIVATE KEY", kder)
	return f
}

// FreePort returns a loopback TCP port nobody listens on now, below the
// kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by
// default): a port from that range can be taken by any outgoing connection
// between now and the server's bind, which made mailpit fail to start when
// other tests ran at the same time.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		port := 20000 + mrand.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return 0
}

// Mailpit is one running mailpit: SMTP on Port, its API at API.
type Mailpit struct {
	Port int
	API  string
}

// StartMailpit runs mailpit on free loopback ports with extra flags until
// the test ends.
func StartMailpit(t testing.TB, flags ...string) *Mailpit {
	t.Helper()
	m, out, err := startMailpit(t, flags)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return m
}

func startMailpit(t testing.TB, flags []string) (*Mailpit, string, error) {
	bin := MailpitBinary(t)
	m := &Mailpit{Port: FreePort(t)}
	httpPort := FreePort(t)
	m.API = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	args := append([]string{
		"--smtp", "127.0.0.1:" + strconv.Itoa(m.Port),
		"--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet",
	}, flags...)
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start mailpit: %w", err)
	}
	// Closed when mailpit has exited: the wait below and the cleanup may
	// both see it.
	exited := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			return nil, out.String(), fmt.Errorf("mailpit %v exited: %v", args, werr)
		default:
		}
		resp, err := http.Get(m.API + "/readyz")
		if err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(m.Port)); err == nil {
				c.Close()
				if resp.StatusCode == http.StatusOK {
					return m, "", nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, out.String(), errors.New("mailpit did not get ready in 15s")
		}
	}
}

// Address is how mailpit's API writes a mailbox.
type Address struct {
	Name    string
	Address string
}

// Received is a message as mailpit's API shows it.
type Received struct {
	ID        string
	MessageID string
	From      Address
	To        []Address
	Cc        []Address
	Bcc       []Address
	Subject   string
	Text      string
	HTML      string
}

// Get reads one API path into v (a *string takes the body as it is).
func (m *Mailpit) Get(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(m.API + path)
	if err != nil {
		t.Fatalf("mailpit API %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit API %s: %s: %s", path, resp.Status, b)
	}
	if s, ok := v.(*string); ok {
		*s = string(b)
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("mailpit API %s: %v: %s", path, err, b)
	}
}

// Messages returns every message mailpit holds, full, waiting up to 5s for
// want of them.
func (m *Mailpit) Messages(t testing.TB, want int) []Received {
	t.Helper()
	var list struct{ Messages []Received }
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m.Get(t, "/api/v1/messages", &list)
		if len(list.Messages) >= want || time.Now().After(deadline) {
			break
		}
	}
	var out []Received
	for _, s := range list.Messages {
		var full Received
		m.Get(t, "/api/v1/message/"+s.ID, &full)
		out = append(out, full)
	}
	return out
}

// Headers returns the message's headers as mailpit parsed them.
func (m *Mailpit) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	m.Get(t, "/api/v1/message/"+id+"/headers", &h)
	return h
}

// Raw returns the message as it arrived.
func (m *Mailpit) Raw(t testing.TB, id string) string {
	t.Helper()
	var s string
	m.Get(t, "/api/v1/message/"+id+"/raw", &s)
	return s
}

// AuthFile writes a mailpit --smtp-auth-file for one user.
func AuthFile(t testing.TB, user, pass string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(p, fmt.Appendf(nil, "%s:%s\n", user, pass), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
