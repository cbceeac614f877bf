// Package odooconf reads Odoo's configuration file, odoo.conf: the
// [options] a watcher needs (where Odoo listens, how it logs, its worker
// limits). It is pure: Parse reads from an io.Reader, and nothing is kept of
// the passwords the file holds (admin_passwd, db_password).
package odooconf

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// MaxBytes bounds how much of a file Parse reads.
const MaxBytes = 1 << 20

// DefaultPort is Odoo's http_port when odoo.conf says nothing.
const DefaultPort = 8069

// HealthPath is Odoo's health route (Odoo 15 and later).
const HealthPath = "/web/health"

// Conf is what odoo-notify reads of odoo.conf. Zero means "not set": Odoo's
// own default applies.
type Conf struct {
	// HTTPInterface is http_interface: the address Odoo listens on; empty
	// for every address.
	HTTPInterface string
	// HTTPPort is http_port, or xmlrpc_port (its name before Odoo 11).
	HTTPPort int
	// LogLevel is log_level ("info", "warn", ...); empty for Odoo's
	// default, info.
	LogLevel string
	// LogFile is logfile: Odoo writes its log there instead of stderr.
	LogFile string
	// Syslog: Odoo logs to syslog, which journald also reads.
	Syslog  bool
	Workers int
	// LimitTimeReal and LimitTimeCPU are in seconds.
	LimitTimeReal, LimitTimeCPU int
	// LimitMemorySoft and LimitMemoryHard are in bytes.
	LimitMemorySoft, LimitMemoryHard uint64
}

// Parse reads the [options] section of an odoo.conf. Odoo reads it with
// Python's ConfigParser: "key = value" or "key: value", "#" and ";"
// comments, and "False" or "None" for an unset value. A value that is not
// a number where one is needed is an error naming the key and line.
func Parse(r io.Reader) (Conf, error) {
	var c Conf
	sc := bufio.NewScanner(io.LimitReader(r, MaxBytes))
	sc.Buffer(make([]byte, 0, 4096), MaxBytes)
	section, n := "", 0
	var errs []string
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		if section != "options" {
			continue
		}
		k, v, ok := cutKey(line)
		if !ok || v == "False" || v == "None" || v == "" {
			continue
		}
		bad := func(what string) {
			errs = append(errs, fmt.Sprintf("line %d: %s = %q is not %s", n, k, v, what))
		}
		switch k {
		case "http_interface", "xmlrpc_interface":
			if c.HTTPInterface == "" || k == "http_interface" {
				c.HTTPInterface = v
			}
		case "http_port", "xmlrpc_port":
			p, err := strconv.Atoi(v)
			if err != nil || p <= 0 || p > 65535 {
				bad("a port number")
				continue
			}
			if c.HTTPPort == 0 || k == "http_port" {
				c.HTTPPort = p
			}
		case "log_level":
			c.LogLevel = strings.ToLower(v)
		case "logfile":
			c.LogFile = v
		case "syslog":
			c.Syslog = isTrue(v)
		case "workers":
			w, err := strconv.Atoi(v)
			if err != nil || w < 0 {
				bad("a number of workers")
				continue
			}
			c.Workers = w
		case "limit_time_real", "limit_time_cpu":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1e9 {
				bad("a number of seconds")
				continue
			}
			if k == "limit_time_real" {
				c.LimitTimeReal = int(f)
			} else {
				c.LimitTimeCPU = int(f)
			}
		case "limit_memory_soft", "limit_memory_hard":
			b, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				bad("a number of bytes")
				continue
			}
			if k == "limit_memory_soft" {
				c.LimitMemorySoft = b
			} else {
				c.LimitMemoryHard = b
			}
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("odooconf: read: %w", err)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("odooconf: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// cutKey splits "key = value" or "key: value" at the first of either.
func cutKey(line string) (k, v string, ok bool) {
	i := strings.IndexAny(line, "=:")
	if i < 0 {
		return "", "", false
	}
	k, v = strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
	// An inline comment after the value, as ConfigParser allows with " ;".
	if j := strings.Index(v, " ;"); j >= 0 {
		v = strings.TrimSpace(v[:j])
	}
	return k, v, k != ""
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true
	}
	return false
}

// Base is the URL Odoo answers on from this host: its http_interface
// (127.0.0.1 when it listens on every address) and http_port.
func (c Conf) Base() string {
	host := c.HTTPInterface
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	port := c.HTTPPort
	if port == 0 {
		port = DefaultPort
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// HealthURL is the URL a watcher probes: configured, an absolute http(s)
// URL, or a path ("/web/login") on Odoo's own address; empty, Odoo's
// /web/health there.
func (c Conf) HealthURL(configured string) (string, error) {
	if configured == "" {
		return c.Base() + HealthPath, nil
	}
	if strings.HasPrefix(configured, "/") {
		return c.Base() + configured, nil
	}
	u, err := url.Parse(configured)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("odooconf: health_url %q is neither an http(s) URL nor a path like /web/login", configured)
	}
	return configured, nil
}

// HidesInfo says log_level keeps INFO lines out of the log: the stack dump
// SIGQUIT makes Odoo write is logged at INFO.
func (c Conf) HidesInfo() bool {
	switch c.LogLevel {
	case "warn", "error", "critical":
		return true
	}
	return false
}
