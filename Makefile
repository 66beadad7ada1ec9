# keyrole — plain GNU Makefile.
#   make                 build build/keyrole and build/keyroled
#   make check           install missing Debian packages, build, run every test
#   make check SANITIZE=1  the same under ASan + UBSan (in build-san/)
#   make install PREFIX=/usr DESTDIR=...   make uninstall   make clean
#   make deb             the Debian package, build/keyrole_VERSION_ARCH.deb (debian/)

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
# systemd's own answer for this PREFIX (/usr -> /usr/lib/systemd/user), else the usual place.
SYSTEMDUSERUNITDIR ?= $(or $(shell $(PKG_CONFIG) --define-variable=prefix=$(PREFIX) \
                        --variable=systemduserunitdir systemd 2>/dev/null),$(PREFIX)/lib/systemd/user)
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# zsh's fpath has vendor-completions under /usr (Debian's packages) and site-functions elsewhere.
ZSHCOMPDIR  ?= $(if $(filter /usr,$(PREFIX)),/usr/share/zsh/vendor-completions,$(PREFIX)/share/zsh/site-functions)
DESTDIR   ?=

CC        ?= cc
PKG_CONFIG ?= pkg-config

ifeq ($(SANITIZE),1)
B         := build-san
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT       := -O1 -g
else
B         := build
SANFLAGS  :=
OPT       := -O2 -g
FORTIFY   := -D_FORTIFY_SOURCE=2
endif

WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wformat-security -Wpointer-arith \
             -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wwrite-strings -Wundef \
             -Wno-unused-parameter -Wimplicit-fallthrough -Wno-format-truncation
HARDEN    := $(FORTIFY) -fstack-protector-strong -fstack-clash-protection -fPIE -fcf-protection
override CPPFLAGS += -D_GNU_SOURCE -DKR_VERSION=\"$(VERSION)\" -iquote common
# The build's own flags are appended even to a CFLAGS given on the command line.
CFLAGS    ?= $(OPT)
override CFLAGS += -std=c11 $(WARN) $(HARDEN) $(SANFLAGS) -MMD -MP
LDHARDEN  := -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack -Wl,--as-needed
# The client is a static PIE: no dynamic loader runs when the SDKs start it
# (tests/scenario/test_client_deps.sh). Linker warnings are fatal there: glibc
# warns about what needs NSS or dlopen at run time (getpwuid & co.), which a
# static client must not use. The sanitizers' runtimes are shared libraries,
# so under SANITIZE=1 it is linked like everything else.
ifeq ($(SANITIZE),1)
CLIENT_LDFLAGS := $(LDHARDEN)
else
CLIENT_LDFLAGS := -static-pie $(filter-out -pie,$(LDHARDEN)) -Wl,--fatal-warnings
endif

# pkg-config for every library; evaluated only when a target needs them.
DAEMON_PKGS := libcrypto libssl libcurl libcjson expat libsystemd libsecret-1 libkeyutils
pc_cflags = $(filter-out -I/usr/include/x86_64-linux-gnu,$(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null))
pc_libs   = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

COMMON_SRC := $(wildcard common/*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CLIENT_SRC := $(filter-out client/main.c,$(wildcard client/*.c))
# Objects the client may link: they need libc and nothing else, no cJSON either
# (tests/scenario/test_client_deps.sh); its JSON is common/json.c.
CLIENT_COMMON := $(B)/common/err.o $(B)/common/mem.o $(B)/common/buf.o $(B)/common/json.o \
                 $(B)/common/proto.o $(B)/common/sockpath.o $(B)/common/shellquote.o \
                 $(B)/common/valid.o $(B)/common/rfc3339.o

COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(B)/%.o)
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(B)/%.o)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(B)/tests/%)
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(B)/tests/tools/%)

MAKEFLAGS += --no-print-directory

all: $(B)/keyrole $(B)/keyroled

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,$(DAEMON_PKGS)) -c -o $@ $<

# Archives are made anew: an object of a source that is gone must not stay in one.
$(B)/libcommon.a: $(COMMON_OBJ)
	rm -f $@
	$(AR) rcs $@ $^
$(B)/libdaemon.a: $(DAEMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^ $(if $(DAEMON_OBJ),,$(B)/common/err.o)
$(B)/libclient.a: $(CLIENT_OBJ) $(CLIENT_COMMON)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/keyroled: $(B)/daemon/main.o $(B)/libdaemon.a $(B)/libcommon.a
	$(CC) $(CFLAGS) $(LDHARDEN) -o $@ $^ $(call pc_libs,$(DAEMON_PKGS)) -lpthread

$(B)/keyrole: $(B)/client/main.o $(B)/libclient.a
	$(CC) $(CFLAGS) $(CLIENT_LDFLAGS) -o $@ $^

$(B)/tests/%: tests/unit/%.c $(B)/libdaemon.a $(B)/libclient.a $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -iquote daemon -iquote client $(CFLAGS) $(call pc_cflags,$(DAEMON_PKGS) cmocka) \
	  $(LDHARDEN) $(UNIT_LDFLAGS) -o $@ $< $(B)/libdaemon.a $(B)/libclient.a $(B)/libcommon.a \
	  $(call pc_libs,$(DAEMON_PKGS) cmocka) -lpthread
# test_json and test_secmem look into every block our code frees (wiping).
$(B)/tests/test_json: UNIT_LDFLAGS := -Wl,--wrap=free
$(B)/tests/test_secmem: UNIT_LDFLAGS := -Wl,--wrap=free

# Test tools: drivers for scenario tests, linked like unit tests, not run directly.
$(B)/tests/tools/%: tests/tools/%.c $(B)/libdaemon.a $(B)/libclient.a $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -iquote daemon -iquote client $(CFLAGS) $(call pc_cflags,$(DAEMON_PKGS)) \
	  $(LDHARDEN) -o $@ $< $(B)/libdaemon.a $(B)/libclient.a $(B)/libcommon.a \
	  $(call pc_libs,$(DAEMON_PKGS)) -lpthread

$(B)/tests/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDHARDEN) -o $@ $<

$(B)/daemon/%.o: override CPPFLAGS += -iquote daemon
$(B)/client/%.o: override CPPFLAGS += -iquote client

deps:
	@sh tests/deps.sh

tests: all $(UNIT_BIN) $(HELPER_BIN) $(TOOL_BIN)

check: deps
	@$(MAKE) --no-print-directory tests
	@KR_BUILD=$(abspath $(B)) SANITIZE=$(SANITIZE) sh tests/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSTEMDUSERUNITDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 0755 $(B)/keyrole $(B)/keyroled $(DESTDIR)$(BINDIR)/
	sed '/^ExecStart=/s|@BINDIR@|$(BINDIR)|' systemd/keyroled.service >$(DESTDIR)$(SYSTEMDUSERUNITDIR)/keyroled.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUSERUNITDIR)/keyroled.service
	install -m 0644 systemd/keyroled.socket $(DESTDIR)$(SYSTEMDUSERUNITDIR)/
	install -m 0644 man/keyrole.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/keyrole-config.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/keyroled.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 completions/keyrole.bash $(DESTDIR)$(BASHCOMPDIR)/keyrole
	install -m 0644 completions/_keyrole $(DESTDIR)$(ZSHCOMPDIR)/_keyrole

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/keyrole $(DESTDIR)$(BINDIR)/keyroled \
	  $(DESTDIR)$(SYSTEMDUSERUNITDIR)/keyroled.service $(DESTDIR)$(SYSTEMDUSERUNITDIR)/keyroled.socket \
	  $(DESTDIR)$(MANDIR)/man1/keyrole.1 $(DESTDIR)$(MANDIR)/man5/keyrole-config.5 \
	  $(DESTDIR)$(MANDIR)/man8/keyroled.8 $(DESTDIR)$(BASHCOMPDIR)/keyrole $(DESTDIR)$(ZSHCOMPDIR)/_keyrole

# The Debian package (debian/): built with dpkg-buildpackage from a copy of the
# tree in build/deb/keyrole-VERSION (so the tree and its build/ stay as they
# are); the .deb is copied to build/. The make variables of this run (SANITIZE=1
# ...) are not passed on: the package is always the normal build.
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB_FILE := build/keyrole_$(VERSION)_$(DEB_ARCH).deb

deb:
	@v=$$(dpkg-parsechangelog -l debian/changelog -S Version) && [ "$$v" = "$(VERSION)" ] || \
	  { echo "debian/changelog is at $$v, the Makefile at $(VERSION): add a changelog entry" >&2; exit 1; }
	rm -rf build/deb && mkdir -p build/deb/keyrole-$(VERSION)
	tar -c --exclude=./build --exclude=./build-san --exclude=./.git --exclude=./tests/.tmp \
	  --exclude=__pycache__ --exclude=./debian/.build . | tar -x -C build/deb/keyrole-$(VERSION)
	cd build/deb/keyrole-$(VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE \
	  dpkg-buildpackage -us -uc -b
	cp build/deb/keyrole_$(VERSION)_$(DEB_ARCH).deb $(DEB_FILE)
	@echo "$(DEB_FILE)"

# A guided tour against a local moto STS: tests/demo.sh (installs packages, builds, runs).
demo:
	@KR_BUILD=$(abspath $(B)) SANITIZE=$(SANITIZE) sh tests/demo.sh

# Fuzzing (libFuzzer + ASan + UBSan, clang): each tests/fuzz/fuzz_NAME.c becomes
# $(B)/fuzz/fuzz_NAME, linked with every common/ and daemon/ source (main.c excepted)
# compiled for fuzzing into $(B)/fuzz/obj/. `make fuzzers` builds them; `make fuzz` runs
# each for FUZZ_SECONDS on the seeds in tests/fuzz/corpus/NAME/ (and the test data of the
# same parser), growing its corpus in $(B)/fuzz/corpus/NAME/; crashing inputs are saved in
# $(B)/fuzz/artifacts/.
# `make check` runs them briefly through tests/scenario/test_fuzz.sh.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -O1 -g $(filter-out -Werror,$(WARN)) -Wno-unknown-warning-option $(FUZZ_SAN)
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZ_OBJ     := $(patsubst %.c,$(B)/fuzz/obj/%.o,$(COMMON_SRC) $(DAEMON_SRC))

# Project sources: warnings shown but not fatal here (clang may warn where gcc does not).
$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -iquote daemon $(FUZZ_CFLAGS) -Wno-format-nonliteral \
	  -fsanitize=fuzzer-no-link -MMD -MP \
	  $(call pc_cflags,$(DAEMON_PKGS)) -c -o $@ $<

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(CPPFLAGS) -iquote daemon $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer \
	  $(call pc_cflags,$(DAEMON_PKGS)) -o $@ $< $(FUZZ_OBJ) $(call pc_libs,$(DAEMON_PKGS)) -lpthread

fuzzers: $(FUZZ_BIN)

# The seeds each harness starts from are listed once, in test_fuzz.sh.
fuzz: fuzzers
	@KR_BUILD=$(abspath $(B)) KR_SRC=$(CURDIR) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_KEEP=1 \
	  sh tests/scenario/test_fuzz.sh

.PHONY: fuzz fuzzers
.SECONDARY: $(FUZZ_OBJ)

# Benchmarks (not tests, not in `make check`): tests/bench/bench.py starts moto, a counting
# proxy and keyroled, measures keyrole against its baselines side by side in one run, prints
# one table and writes it to doc/bench.md. BENCH_ARGS=--quick for a short trial run. Its C
# helpers (tests/bench/*.c: libc and pthreads only) are built into $(B)/bench/.
BENCH_SRC  := $(wildcard tests/bench/*.c)
BENCH_BIN  := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)
BENCH_ARGS ?=

$(B)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDHARDEN) -o $@ $< -lpthread

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	@KR_BUILD=$(abspath $(B)) KR_SRC=$(CURDIR) python3 tests/bench/bench.py $(BENCH_ARGS)

.PHONY: bench

format:
	clang-format -i $(wildcard common/*.[ch] daemon/*.[ch] client/*.[ch] tests/unit/*.[ch] tests/lib/*.h tests/tools/*.c tests/fuzz/*.c tests/bench/*.c tests/helpers/*.c)

clean:
	rm -rf build build-san

.PHONY: all deps tests check install uninstall deb demo format clean
.DELETE_ON_ERROR:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
