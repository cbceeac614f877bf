package odooconf

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Conf
		wantErr string
	}{
		{name: "the setup of the real Odoo", in: `[options]
db_host = False
db_password = s3cret
http_port = 8069
workers = 2
max_cron_threads = 1
limit_time_real = 120
`, want: Conf{HTTPPort: 8069, Workers: 2, LimitTimeReal: 120}},
		{name: "every key", in: `[options]
http_interface = 10.0.0.5
http_port = 8070
log_level = warn
logfile = /var/log/odoo/odoo.log
syslog = True
workers = 8
limit_time_real = 240.5
limit_time_cpu: 60
limit_memory_soft = 2147483648
limit_memory_hard = 2684354560
`, want: Conf{HTTPInterface: "10.0.0.5", HTTPPort: 8070, LogLevel: "warn", LogFile: "/var/log/odoo/odoo.log", Syslog: true,
			Workers: 8, LimitTimeReal: 240, LimitTimeCPU: 60, LimitMemorySoft: 2147483648, LimitMemoryHard: 2684354560}},
		{name: "old names: xmlrpc_port and xmlrpc_interface", in: "[options]\nxmlrpc_interface = 127.0.0.2\nxmlrpc_port = 8079\n",
			want: Conf{HTTPInterface: "127.0.0.2", HTTPPort: 8079}},
		{name: "http_port wins over xmlrpc_port, whatever the order", in: "[options]\nhttp_port = 8069\nxmlrpc_port = 8079\n",
			want: Conf{HTTPPort: 8069}},
		{name: "False and None are unset; comments skipped", in: "[options]\n; comment\n# another\nlogfile = False\nhttp_interface = None\nworkers = 0\n",
			want: Conf{}},
		{name: "other sections are not options", in: "[queue_job]\nworkers = 4\n[options]\nworkers = 2\n", want: Conf{Workers: 2}},
		{name: "an inline comment", in: "[options]\nhttp_port = 8072 ; behind nginx\n", want: Conf{HTTPPort: 8072}},
		{name: "a bad number names its line", in: "[options]\n\nhttp_port = eighty\nworkers = 2\n", want: Conf{Workers: 2},
			wantErr: `line 3: http_port = "eighty" is not a port number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in))
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestHealthURL(t *testing.T) {
	tests := []struct {
		name, conf, configured, want, wantErr string
	}{
		{name: "no odoo.conf", want: "http://127.0.0.1:8069/web/health"},
		{name: "every address is probed on loopback", conf: "[options]\nhttp_interface = 0.0.0.0\nhttp_port = 8070\n", want: "http://127.0.0.1:8070/web/health"},
		{name: "one interface", conf: "[options]\nhttp_interface = 10.1.2.3\n", want: "http://10.1.2.3:8069/web/health"},
		{name: "IPv6", conf: "[options]\nhttp_interface = ::1\n", want: "http://[::1]:8069/web/health"},
		{name: "a path for Odoo < 15", conf: "[options]\nhttp_port = 8070\n", configured: "/web/login", want: "http://127.0.0.1:8070/web/login"},
		{name: "an absolute URL as it is", configured: "https://erp.example.com/web/health", want: "https://erp.example.com/web/health"},
		{name: "not a URL", configured: "erp:8069/web/health", wantErr: "neither an http(s) URL nor a path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.conf))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.HealthURL(tt.configured)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("HealthURL(%q) = %q, %v; want %q", tt.configured, got, err, tt.want)
			}
		})
	}
}

func TestHidesInfo(t *testing.T) {
	for level, want := range map[string]bool{"": false, "info": false, "debug": false, "debug_rpc": false, "warn": true, "error": true, "critical": true} {
		if got := (Conf{LogLevel: level}).HidesInfo(); got != want {
			t.Errorf("log_level %q: HidesInfo = %v, want %v", level, got, want)
		}
	}
}
