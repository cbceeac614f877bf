package config

import (
	"strings"
	"testing"
	"time"
)

func TestWatch(t *testing.T) {
	tests := []struct {
		name string
		file string
		want Watch
		errs []string // every one must appear in the error
		off  bool     // degraded = false
	}{
		{name: "defaults", file: "", want: Watch{Interval: Duration{Duration: 10 * time.Second}, Timeout: Duration{Duration: 5 * time.Second},
			StartGrace: Duration{Duration: time.Minute}, Failures: 3, OnHang: "restart", DegradedWindow: Duration{Duration: 15 * time.Minute}, ErrorsPerWindow: 10}},
		{name: "every key", file: "[watch]\nhealth_url = \"/web/login\"\ninterval = \"30s\"\ntimeout = \"10s\"\nstart_grace = \"0s\"\nfailures = 5\non_hang = \"report\"\ndegraded_window = \"20s\"\nerrors_per_window = 50\n",
			want: Watch{HealthURL: "/web/login", Interval: Duration{Duration: 30 * time.Second}, Timeout: Duration{Duration: 10 * time.Second},
				Failures: 5, OnHang: "report", DegradedWindow: Duration{Duration: 20 * time.Second}, ErrorsPerWindow: 50}},
		{name: "an absolute URL", file: "[watch]\nhealth_url = \"https://erp.example.com/web/health\"\n",
			want: Watch{HealthURL: "https://erp.example.com/web/health", Interval: Duration{Duration: 10 * time.Second}, Timeout: Duration{Duration: 5 * time.Second},
				StartGrace: Duration{Duration: time.Minute}, Failures: 3, OnHang: "restart", DegradedWindow: Duration{Duration: 15 * time.Minute}, ErrorsPerWindow: 10}},
		{name: "every problem at once", file: "[watch]\nhealth_url = \"erp:8069\"\ninterval = \"5s\"\ntimeout = \"6s\"\nstart_grace = \"-1s\"\nfailures = 0\non_hang = \"kill\"\ndegraded_window = \"1s\"\nerrors_per_window = 0\n",
			errs: []string{
				`watch.health_url: must be an absolute http:// or https:// URL; or give a path on Odoo's own address, like "/web/login"`,
				"watch.timeout: 6s is longer than watch.interval (5s)",
				"watch.start_grace: must be a duration",
				"watch.failures: 0: give how many probes failing in a row are a hang",
				`watch.on_hang: "kill": must be "restart"`,
				"watch.degraded_window: must be a duration of 10s or more",
				"watch.errors_per_window: 0: give how many failed requests",
			}},
		{name: "degraded off", file: "[watch]\ndegraded = false\n", off: true},
		{name: "not a duration", file: "[watch]\ninterval = \"often\"\n", errs: []string{`watch.interval: "often" is not a duration`}},
		{name: "a typo", file: "[watch]\nhealth_ulr = \"/web/login\"\n", errs: []string{"watch.health_ulr: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.file))
			if err == nil {
				err = c.Validate("")
			}
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if tt.off {
					if c.Watch.DegradedOn() {
						t.Error("degraded = false: DegradedOn says true")
					}
					return
				}
				if !c.Watch.DegradedOn() {
					t.Error("degraded is on by default: DegradedOn says false")
				}
				if c.Watch != tt.want {
					t.Errorf("got %+v\nwant %+v", c.Watch, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, e := range tt.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("the error does not say %q:\n%v", e, err)
				}
			}
		})
	}
}
