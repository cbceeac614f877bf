module github.com/odoo-notify/odoo-notify

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/godbus/dbus/v5 v5.1.0
	github.com/rogpeppe/go-internal v1.14.1
	github.com/slack-go/slack v0.35.0
	github.com/wneessen/go-mail v0.8.1
	golang.org/x/sys v0.47.0
)

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	golang.org/x/tools v0.47.0 // indirect
)
