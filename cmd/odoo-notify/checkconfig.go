package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/odooconf"
	"github.com/odoo-notify/odoo-notify/watch"
)

// runCheckConfig validates the file and prints every problem at once, each
// with its key; on success it prints the effective config, secrets hidden.
func runCheckConfig(ctx context.Context, a *app, args []string) error {
	f := newFlags(a, "check-config")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("check-config: takes no arguments")
	}
	// check-config judges the file itself: a missing file is a problem
	// here, even at the default path.
	cfg, err := config.Load(f.config, a.getenv("CREDENTIALS_DIRECTORY"))
	if err == nil {
		// What only building a channel finds: a ca_file that is not PEM,
		// a header odoo-notify sets itself.
		if _, broken := buildChannels(cfg, httpClient(), a.log, "", nil); broken != nil {
			err = errors.Unwrap(broken)
		}
	}
	if err == nil {
		// A 404 from the health URL is a setting to fix before any watch
		// runs: Odoo < 15 has no /web/health.
		err = checkWatchURL(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "%s is invalid:\n", f.config)
		for _, p := range problems(err) {
			fmt.Fprintf(a.stderr, "  %s\n", p)
		}
		return &exitError{code: exitConfig, err: errReported}
	}
	if fi, err := os.Stat(f.config); err == nil && fi.Mode().Perm()&0o004 != 0 && cfg.HasInlineSecrets() {
		fmt.Fprintf(a.stderr, "warning: %s holds secrets and every user can read it (mode %04o): chmod 0640 it (group odoo-notify), or move the secrets to *_file files\n", f.config, fi.Mode().Perm())
	}
	fmt.Fprintf(a.stdout, "# %s is valid: %d channel(s). Effective settings, secrets hidden:\n", f.config, cfg.Channels())
	return cfg.Encode(a.stdout)
}

// problems lists the lines of a config error without the "config: FILE is
// invalid" prefix that check-config prints itself.
func problems(err error) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasSuffix(l, " is invalid:") {
			continue
		}
		out = append(out, strings.TrimPrefix(l, "config: "))
	}
	if len(out) == 0 {
		out = append(out, errors.Unwrap(err).Error())
	}
	return out
}

// checkWatchURL probes [watch] health_url, when set (a path: on Odoo's
// default address), once. Only a 404 is a problem: Odoo may be stopped now.
func checkWatchURL(ctx context.Context, cfg *config.Config) error {
	if cfg.Watch.HealthURL == "" {
		return nil
	}
	url, err := odooconf.Conf{}.HealthURL(cfg.Watch.HealthURL)
	if err != nil {
		return err
	}
	p := &watch.Prober{URL: url, Timeout: cfg.Watch.Timeout.Duration, Client: watch.NewClient()}
	if err := checkHealthURL(ctx, p, cfg.Watch.HealthURL); err != nil {
		return fmt.Errorf("watch.health_url: %w", err)
	}
	return nil
}
