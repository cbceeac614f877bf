# odoo-notify: `make demo` crashes a stand-in Odoo under a real systemd and
# shows what each channel received; `make test` runs every test; `make
# e2e-odoo` runs the real Odoo under a real systemd; `make deb`
# builds the Debian package (ARCH=arm64 cross-builds it for arm64). demo and
# test install what is missing first (scripts/deps).

VERSION    ?= $(shell packaging/version.sh)
MAINTAINER ?= odoo-notify maintainers <maintainers@odoo-notify.org>
DIST       ?= dist
NFPM       ?= go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

# The Debian architecture of the package: amd64 (built natively) or arm64
# (cross-built with cgo: Debian's gcc-aarch64-linux-gnu and multiarch
# libsystemd-dev:arm64, both installed by scripts/deps).
ARCH ?= amd64
ifeq ($(ARCH),amd64)
STAGE ?= $(DIST)/stage
CROSS :=
GOENV := GOOS=linux GOARCH=amd64
else ifeq ($(ARCH),arm64)
STAGE ?= $(DIST)/stage-arm64
CROSS := aarch64-linux-gnu-
GOENV := GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc
else
$(error ARCH must be amd64 or arm64, not $(ARCH))
endif
# Every file in the .deb gets the last commit's time, so two builds of one
# commit give the same package.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
DEB   := $(DIST)/odoo-notify_$(VERSION)_$(ARCH).deb

# sdjournal needs cgo; PIE, full RELRO, no build paths, version stamped;
# the same flags for every architecture.
GOBUILD := $(GOENV) CGO_ENABLED=1 go build -trimpath -buildmode=pie \
	-ldflags "-s -w -linkmode=external -extldflags '-Wl,-z,relro,-z,now' -X main.version=$(VERSION)"

.PHONY: deps test build deb lint-deb e2e e2e-odoo demo clean FORCE

deps:
	scripts/deps

# Every test, the end-to-end test under a real systemd included.
test: deps
	go vet ./...
	"$$(go env GOPATH)/bin/staticcheck" ./...
	go test -race -timeout 60m ./...

build: $(STAGE)/odoo-notify

$(STAGE)/odoo-notify: FORCE
	@mkdir -p $(STAGE)
	$(GOBUILD) -o $@ ./cmd/odoo-notify
	$(CROSS)objcopy --remove-section=.comment $@

deb: $(DEB)

$(DEB): $(STAGE)/odoo-notify packaging/nfpm.yaml packaging/man/odoo-notify.1 packaging/doc/changelog FORCE
	sed 's/@VERSION@/$(VERSION)/' packaging/man/odoo-notify.1 | gzip -9n > $(STAGE)/odoo-notify.1.gz
	sed -e 's/@VERSION@/$(VERSION)/' -e 's/@MAINTAINER@/$(MAINTAINER)/' \
		-e "s/@DATE@/$$(date -R -d @$(SOURCE_DATE_EPOCH))/" \
		packaging/doc/changelog | gzip -9n > $(STAGE)/changelog.gz
	sed -e 's|@STAGE@|$(abspath $(STAGE))|' -e 's|@ARCH@|$(ARCH)|' packaging/nfpm.yaml > $(STAGE)/nfpm.yaml
	VERSION='$(VERSION)' MAINTAINER='$(MAINTAINER)' SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
	LIBC_VERSION=$$($(CROSS)objdump -T $(STAGE)/odoo-notify | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1) \
		$(NFPM) pkg --config $(STAGE)/nfpm.yaml --packager deb --target $@
	@echo "built $@"

# lintian: any error or warning fails (no overrides are shipped).
lint-deb: $(DEB)
	lintian --fail-on error,warning $(DEB)

# The end-to-end test: builds the .deb, boots Debian 12 with systemd-nspawn
# and crashes a stand-in Odoo every way Odoo crashes (needs root).
e2e:
	go test -count=1 -timeout 30m -v ./packaging/e2e/

# The real-Odoo end-to-end test: Odoo 18.0 and PostgreSQL 15 installed in
# the booted Debian 12 by setup.sh from ODOO_NOTIFY_ODOO_SRC (default ../shared/odoo
# beside the repo, else /work/shared/odoo; the test fails when it is missing), crashed, looped
# with its database down, stopped by the start limit and silenced (needs
# root). The root with Odoo is kept beside the bare one for later runs.
ODOO_NOTIFY_ODOO_SRC ?= $(firstword $(wildcard $(abspath ../shared/odoo)) /work/shared/odoo)
e2e-odoo: deps
	go vet -tags odoo ./packaging/e2e/
	ODOO_NOTIFY_ODOO_SRC='$(ODOO_NOTIFY_ODOO_SRC)' go test -tags odoo -count=1 -timeout 40m -v -run '^TestOdoo(Watch)?$$' ./packaging/e2e/

# The end-to-end test's story: build and install the .deb in a booted Debian
# 12, enable odoo.service, test-fire, crash the stand-in Odoo (a Python
# traceback, a SIGKILL), then a crash that systemd restarts and its recovery
# notice; for each step it prints what the mail, Slack and the webhook got.
DEMO_STEPS := install|fresh_install_reports_to_the_journal|configure_and_test-fire|python_traceback|sigkill_as_an_oom_kill_looks_under_cgroup_v1|a_crash_systemd_restarts_is_heard_by_the_hook
demo: deps
	@mkdir -p $(DIST)
	go test -c -o $(DIST)/e2e.test ./packaging/e2e/
	cd packaging/e2e && ODOO_NOTIFY_DEMO=1 $(abspath $(DIST))/e2e.test -test.timeout 20m \
		-test.run 'TestEndToEnd/^($(DEMO_STEPS))$$'

clean:
	rm -rf $(DIST)

FORCE:
