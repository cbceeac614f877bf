// Package e2e holds the end-to-end test of the Debian package: it builds
// the .deb with `make deb`, boots Debian 12 with systemd-nspawn, installs the
// package with apt, crashes a stand-in Odoo every way Odoo crashes and checks
// what a real SMTP server and HTTP sinks for Slack and a webhook received.
//
// It runs as root and needs debootstrap, systemd-container and mailpit
// (scripts/deps installs them). The Debian root is debootstrapped once into
// /var/cache/odoo-notify-e2e ($ODOO_NOTIFY_E2E_CACHE) and copied per run.
package e2e
