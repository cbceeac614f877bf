package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/odoo-notify/odoo-notify/config"
	"github.com/odoo-notify/odoo-notify/notifiers"
	"github.com/odoo-notify/odoo-notify/notifiers/alertmanager"
	"github.com/odoo-notify/odoo-notify/notifiers/discord"
	"github.com/odoo-notify/odoo-notify/notifiers/email"
	"github.com/odoo-notify/odoo-notify/notifiers/googlechat"
	"github.com/odoo-notify/odoo-notify/notifiers/mattermost"
	"github.com/odoo-notify/odoo-notify/notifiers/ntfy"
	"github.com/odoo-notify/odoo-notify/notifiers/slack"
	"github.com/odoo-notify/odoo-notify/notifiers/teams"
	"github.com/odoo-notify/odoo-notify/notifiers/telegram"
	"github.com/odoo-notify/odoo-notify/notifiers/webhook"
)

// buildChannels turns the config's channels into notifiers, in file order:
// email, slack, webhook, then the chat services in the order of
// config.Config's fields. only, when set, keeps the one channel of
// that name. A channel that cannot be built (a ca_file that is not PEM, a
// header with a line break) is left out and named in the error, a config
// error; the others are returned all the same, so that one bad option
// does not silence every channel.
func buildChannels(cfg *config.Config, client *http.Client, log *slog.Logger, only string) ([]notifiers.Channel, error) {
	var chs []notifiers.Channel
	var errs []error
	add := func(kind, name string, n notifiers.Notifier, timeout config.Duration, rate float64, burst int) {
		chs = append(chs, notifiers.Channel{Kind: kind, Name: name, Notifier: n, Timeout: timeout.Duration, Rate: rate, Burst: burst})
	}
	for _, c := range cfg.Email {
		n, err := email.New(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("email %s: %w", c.Name, err))
			continue
		}
		n.Log = log.With("channel", "email "+c.Name)
		add("email", c.Name, n, c.Timeout, c.Rate, c.Burst)
	}
	for _, c := range cfg.Slack {
		add("slack", c.Name, slack.New(c, client), c.Timeout, c.Rate, c.Burst)
	}
	for _, c := range cfg.Webhook {
		n, err := webhook.New(c, client)
		if err != nil {
			errs = append(errs, fmt.Errorf("webhook %s: %w", c.Name, err))
			continue
		}
		add("webhook", c.Name, n, c.Timeout, c.Rate, c.Burst)
	}
	for _, c := range cfg.Telegram {
		add("telegram", c.Name, telegram.New(c, client), c.Timeout, c.Rate, c.Burst)
	}
	for _, c := range cfg.Teams {
		add("teams", c.Name, teams.New(c, client), c.Timeout, c.Rate, c.Burst)
	}
	for _, c := range cfg.Ntfy {
		add("ntfy", c.Name, ntfy.New(c, client), c.Timeout, c.Rate, c.Burst)
	}
	for _, c := range cfg.Discord {
		add("discord", c.Name, discord.New(c, client), c.Timeout, c.Rate, c.Burst)
	}
	for _, c := range cfg.Mattermost {
		add("mattermost", c.Name, mattermost.New(c, client), c.Timeout, c.Rate, c.Burst)
	}
	for _, c := range cfg.GoogleChat {
		add("googlechat", c.Name, googlechat.New(c, client), c.Timeout, c.Rate, c.Burst)
	}
	for _, c := range cfg.Alertmanager {
		n, err := alertmanager.New(c, client)
		if err != nil {
			errs = append(errs, fmt.Errorf("alertmanager %s: %w", c.Name, err))
			continue
		}
		n.Log = log.With("channel", "alertmanager "+c.Name)
		add("alertmanager", c.Name, n, c.Timeout, c.Rate, c.Burst)
	}
	var broken error
	if err := errors.Join(errs...); err != nil {
		broken = withCode(exitConfig, err)
	}
	if only == "" {
		return chs, broken
	}
	i := slices.IndexFunc(chs, func(c notifiers.Channel) bool { return c.Name == only })
	if i < 0 {
		var names []string
		for _, c := range chs {
			names = append(names, c.Name)
		}
		if len(names) == 0 {
			if broken != nil {
				return nil, broken
			}
			return nil, usageErr("no channel named %q: no channel is configured in the file", only)
		}
		return nil, usageErr("no channel named %q; the configured channels are %q", only, names)
	}
	return chs[i : i+1], nil
}
