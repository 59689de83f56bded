# sockjail's build, demo and test entry points. The README names two of them:
#   make demo   builds sockjail and serves the hello world on 127.0.0.1:31337
#   make test   runs every test (unit, integration, escape suite, real systemd)
# Both install what they need through apt-get when run as root on Debian or
# Ubuntu, and otherwise stop with the exact command to run.

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/sockjail
DEMO_ADDR ?= 127.0.0.1:31337

# Debian packages the build and the tests need, as "command-or-file:package".
BUILD_DEPS := gcc:gcc /usr/include/seccomp.h:libseccomp-dev pkg-config:pkg-config \
	/usr/lib/x86_64-linux-gnu/libc.a:libc6-dev
TEST_DEPS := socat:socat haproxy:haproxy telnet:inetutils-telnet \
	systemd-socket-activate:systemd systemd-analyze:systemd setpriv:util-linux \
	systemd-nspawn:systemd-container debootstrap:debootstrap expect:expect \
	dialog:dialog /usr/include/ncurses.h:libncurses-dev nc:netcat-openbsd \
	/usr/bin/python3:python3 /usr/bin/perl:perl /usr/bin/node:nodejs /usr/bin/ps:procps \
	/usr/bin/hostname:hostname hashcash:hashcash lintian:lintian man:man-db strip:binutils dpkg-deb:dpkg \
	sz:lrzsz /usr/bin/rsh-redone-rlogin:rsh-redone-client


.PHONY: all build demo test test-needs-root test-go fuzz deps-build deps-test clean e2e-systemd bench \
	install install-files uninstall deb

all: build

# A static binary starts faster on every connection; internal/buildflags
# says why, and the tests and the benchmark build with the same flags.
GO_TAGS := netgo
GO_LDFLAGS := -extldflags=-static
GO_BUILD_FLAGS := -tags=$(GO_TAGS) -ldflags=$(GO_LDFLAGS)

# The version `sockjail --version` reports: the git tag, or the commit when
# there is no tag ("-dirty" with uncommitted changes). Give VERSION=... to
# build from a tree without git.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
VERSION_LDFLAG = $(if $(VERSION),-X github.com/sockjail/sockjail/internal/version.Override=$(VERSION))

build: deps-build
	$(GO) build -tags=$(GO_TAGS) -ldflags='$(GO_LDFLAGS) $(VERSION_LDFLAG)' -o $(BIN) ./cmd/sockjail

# deps-%: install missing packages with apt-get when root, else say how.
deps-build:
	@./.ci/deps $(BUILD_DEPS)
deps-test: deps-build
	@./.ci/deps $(BUILD_DEPS) $(TEST_DEPS)

# The demo: the seed's hello world, served through sockjail, from wherever
# this clone is (a 0700 /root or home directory, /tmp), as root or not. The
# client it names is bash's /dev/tcp, which every machine running this
# Makefile has (nc is not installed by default). cmd/sockjail's TestDemo
# runs this target (with -o build) and the client it names.
DEMO_HOST = $(firstword $(subst :, ,$(DEMO_ADDR)))
DEMO_PORT = $(lastword $(subst :, ,$(DEMO_ADDR)))
demo: build
	@echo "sockjail: serving testdata/hello.sh on $(DEMO_ADDR); try from another terminal: bash -c 'cat </dev/tcp/$(DEMO_HOST)/$(DEMO_PORT)'   (Ctrl-C stops)"
	$(BIN) serve --listen $(DEMO_ADDR) --policy testdata/policies/hello.toml -- testdata/hello.sh

# Every test: the Go suite (unit, integration against the real binary,
# socat, systemd-socket-activate, HAProxy, the escape suite) and the
# end-to-end test under real systemd in a container.
test: test-needs-root deps-test test-go e2e-systemd

# Much of the suite needs root (namespaces, cgroups, other users' files,
# systemd in a container): as another user `make test` stops at once rather
# than pass with those tests skipped. `make test-go` runs what a user can.
test-needs-root:
	@if [ "$$(id -u)" -ne 0 ]; then \
		echo "sockjail: make test needs root: the sandbox, cgroup and systemd tests can't run as $$(id -un)" >&2; \
		echo "sockjail: hint: sudo make test   (or 'make test-go' for the tests a normal user can run, the rest skipped)" >&2; \
		exit 1; \
	fi

test-go:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 45m ./...

# Short fuzzing runs of every fuzz target (the seed corpora run in test-go).
FUZZ_TIME ?= 20s
fuzz: deps-build
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_TIME) $$pkg; \
	  done; done

# The end-to-end test under real systemd as PID 1 in a container
# (internal/e2e). The first run debootstraps a Debian root into
# /var/cache/sockjail-e2e (about 35 s here); later runs reuse it.
e2e-systemd: deps-test
	SOCKJAIL_E2E_SYSTEMD=1 $(GO) test -count=1 -timeout 15m -v -run '^TestSystemd$$' ./internal/e2e/

# The side-by-side benchmark of issue 7 (bench/README.md): bare program,
# sockjail run and serve, bubblewrap, firejail; a table on stdout and JSON in
# bench/results/. BENCH_N connections per target (default 300, one to three minutes).
# bubblewrap and firejail are installed when root; a target that can't run
# is reported as not measured. run:no-proc-shm is sockjail run without the
# fresh /proc and the private /dev/shm (bench/policies/no-proc-shm.toml),
# beside sockjail-run, so that every run shows what the two mounts cost.
BENCH_N ?= 300
BENCH_DEPS := systemd-socket-activate:systemd /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev \
	bwrap:bubblewrap firejail:firejail
bench: deps-build
	-@./.ci/deps $(BENCH_DEPS)
	$(GO) run ./bench/cmd/sjbench -n $(BENCH_N) -run-policy no-proc-shm=bench/policies/no-proc-shm.toml \
		-run-policy no-cgroup=bench/policies/no-cgroup.toml

# Installing, as Debian's own packages of system tools lay themselves out.
# PREFIX is where the files go (/usr for the package), DESTDIR a staging
# root in front of it. install-files installs an already built $(BIN);
# uninstall removes exactly the files install put there.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
DOCDIR = $(PREFIX)/share/doc/sockjail
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
EXAMPLES := $(notdir $(wildcard testdata/policies/*.toml))
INSTALLED = $(BINDIR)/sockjail $(MANDIR)/man1/sockjail.1 $(MANDIR)/man5/sockjail.toml.5 \
	$(BASHCOMPDIR)/sockjail $(addprefix $(DOCDIR)/examples/,$(EXAMPLES))

install: build install-files

install-files:
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/sockjail
	install -D -m 0644 docs/man/sockjail.1 $(DESTDIR)$(MANDIR)/man1/sockjail.1
	install -D -m 0644 docs/man/sockjail.toml.5 $(DESTDIR)$(MANDIR)/man5/sockjail.toml.5
	install -D -m 0644 docs/completion/sockjail.bash $(DESTDIR)$(BASHCOMPDIR)/sockjail
	install -d -m 0755 $(DESTDIR)$(DOCDIR)/examples
	install -m 0644 $(addprefix testdata/policies/,$(EXAMPLES)) $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null

# The Debian package: `make install-files` into a staged tree with
# PREFIX=/usr, then dpkg-deb (internal/packaging/build-deb says why not
# dpkg-buildpackage), then lintian. The .deb lands in bin/.
DEB_DEPS := dpkg-deb:dpkg lintian:lintian gzip:gzip
# No errors and no warnings: internal/packaging/lintian-overrides explains
# the few tags that are kept.
LINTIAN_FLAGS := --fail-on error,warning
deb: build
	@./.ci/deps $(DEB_DEPS)
	@deb=$$(./internal/packaging/build-deb $(BIN) bin) && lintian $(LINTIAN_FLAGS) "$$deb" && echo "$$deb"

clean:
	rm -rf bin
