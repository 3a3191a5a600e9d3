# Ditto: one non-recursive Makefile for every binary, the guest image and the tests.
#
#   make            build everything into $(B)/
#   make guest      the guest kernel + initramfs + runtime disk ($(B)/guest/)
#   make test       deps, build, unit tests (plain and ASan+UBSan), a short run of each fuzzer,
#                   integration tests
#   make fuzz       deps, the libFuzzer harnesses, each run FUZZ_SECONDS (60) seconds
#   make test-asan  deps, the controller's and the agent's end-to-end suites against daemons
#                   built with ASan+UBSan; any sanitizer report fails it
#   make run        deps, build, start a local platform (ditto up) and run the demo on it
#
# Set WERROR=1 (CI does) to turn warnings into errors.

B      ?= build
CC     ?= cc
WERROR ?= $(if $(CI),1,0)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN     += -Werror
endif
# libpq's header lives in its own folder (Debian: /usr/include/postgresql).
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
LIBS_PQ   := -lpq
CPPFLAGS := -Ilib $(PQ_CFLAGS) -D_GNU_SOURCE -MMD -MP
CFLAGS   := -std=c17 -O2 -g $(WARN)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PKGS_AGENT := libuv libmicrohttpd jansson libcurl
LIBS_AGENT  = $(shell pkg-config --libs $(PKGS_AGENT) 2>/dev/null) -lcrypto -lpthread
LIBS_CLIENT = $(shell pkg-config --libs libcurl jansson 2>/dev/null) -lcrypto
# The guest links libcrypto statically (its key pair and end-to-end encryption).
LIBS_GUEST  = -static -ljansson -lcrypto -lpthread

.DEFAULT_GOAL := all
# Keep object files make would otherwise delete as intermediates.
.PRECIOUS: $(B)/obj/%.o $(B)/asan/%.o
.PHONY: all deps guest test unit unit-asan integration test-asan test-asan-build run bench clean \
	FORCE

# ---- sources ---------------------------------------------------------------
LIB_SRCS   := $(wildcard lib/*.c)
AGENT_SRCS := $(filter-out host-agent/main.c,$(wildcard host-agent/*.c))
GUEST_SRCS := $(filter-out guest-worker/main.c,$(wildcard guest-worker/*.c))
CTL_SRCS   := $(filter-out controller/main.c,$(wildcard controller/*.c))
BENCH_SRCS := $(filter-out bench/main.c,$(wildcard bench/*.c))
CLI_SRCS   := $(wildcard cli/*.c)
FN_C       := $(wildcard functions/*.c)
FN_SH      := $(wildcard functions/*.sh)

# Tests reach into the daemons' modules, and share the helpers and fake
# peers under tests/support and tests/fakes (one static library).
$(B)/obj/tests/%.o $(B)/asan/tests/%.o: CPPFLAGS += -Ihost-agent -Iguest-worker -Icontroller -Ibench -Itests
TSUP_SRCS  := $(wildcard tests/support/*.c tests/fakes/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
asan_obj = $(patsubst %.c,$(B)/asan/%.o,$(1))

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/asan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(SAN) -c -o $@ $<

$(B)/libditto.a: $(call obj,$(LIB_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/libagent.a: $(call obj,$(AGENT_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/libguest.a: $(call obj,$(GUEST_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/libbench.a: $(call obj,$(BENCH_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/asan/libbench.a: $(call asan_obj,$(BENCH_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/libcontroller.a: $(call obj,$(CTL_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/asan/libcontroller.a: $(call asan_obj,$(CTL_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/asan/libditto.a: $(call asan_obj,$(LIB_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/asan/libagent.a: $(call asan_obj,$(AGENT_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/asan/libguest.a: $(call asan_obj,$(GUEST_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/libtestsupport.a: $(call obj,$(TSUP_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/asan/libtestsupport.a: $(call asan_obj,$(TSUP_SRCS))
	@rm -f $@; ar rcs $@ $^

# ---- binaries --------------------------------------------------------------
$(B)/ditto-agent: $(B)/obj/host-agent/main.o $(B)/libagent.a $(B)/libditto.a
	$(CC) -o $@ $^ $(LIBS_AGENT)

$(B)/ditto-guest: $(B)/obj/guest-worker/main.o $(B)/libguest.a $(B)/libditto.a
	$(CC) -o $@ $^ $(LIBS_GUEST)

$(B)/ditto-bench: $(B)/obj/bench/main.o $(B)/libbench.a $(B)/libditto.a
	$(CC) -o $@ $^ $(LIBS_CLIENT) -lm

FN_BINS := $(patsubst functions/%.c,$(B)/functions/%,$(FN_C)) \
           $(patsubst functions/%.sh,$(B)/functions/%.sh,$(FN_SH))
$(B)/functions/%: $(B)/obj/functions/%.o $(B)/libditto.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ -static
$(B)/functions/%.sh: functions/%.sh
	@mkdir -p $(@D)
	install -m 0755 $< $@

# Python and Node.js samples: single files are copied; each folder is a function with its own
# modules, zipped reproducibly (the same files give the same bytes: entries in sorted order,
# every timestamp 1980-01-01 00:00 UTC, modes from the files' executable bits, no __pycache__).
FN_SCRIPTS := $(wildcard functions/python/*.py functions/nodejs/*.js)
FN_ZIPDIRS := $(filter-out %/__pycache__,$(patsubst %/,%,$(wildcard functions/python/*/ \
                                                             functions/nodejs/*/)))
FN_BINS    += $(patsubst functions/%,$(B)/functions/%,$(FN_SCRIPTS)) \
              $(patsubst functions/%,$(B)/functions/%.zip,$(FN_ZIPDIRS))
$(B)/functions/python/%.py: functions/python/%.py
	@mkdir -p $(@D)
	install -m 0644 $< $@
$(B)/functions/nodejs/%.js: functions/nodejs/%.js
	@mkdir -p $(@D)
	install -m 0644 $< $@
define FN_ZIP_RULE
$(B)/$(1).zip: $(shell find $(1) -type f ! -path '*/__pycache__/*' 2>/dev/null)
	@rm -rf $$@.d && mkdir -p $$@.d
	cp -R $(1)/. $$@.d/
	find $$@.d -name __pycache__ -prune -exec rm -rf {} +
	chmod -R u=rwX,go=rX $$@.d && find $$@.d -exec touch -h -d @315532800 {} +
	cd $$@.d && LC_ALL=C TZ=UTC python3 -m zipfile -c ../$$(@F).tmp $$$$(LC_ALL=C ls -A)
	mv $$@.tmp $$@ && rm -rf $$@.d
endef
$(foreach d,$(FN_ZIPDIRS),$(eval $(call FN_ZIP_RULE,$(d))))

LIBS_CTL = -lmicrohttpd -ljansson -lsqlite3 $(LIBS_PQ) -lcrypto -lcurl -lpthread
$(B)/ditto-controller: $(B)/obj/controller/main.o $(B)/libcontroller.a $(B)/libditto.a
	$(CC) -o $@ $^ $(LIBS_CTL)

$(B)/ditto: $(call obj,$(CLI_SRCS)) $(B)/libditto.a
	$(CC) -o $@ $^ $(LIBS_CLIENT)

BINS := $(B)/ditto-agent $(B)/ditto-guest $(B)/ditto-bench $(B)/ditto-controller
ifneq ($(CLI_SRCS),)
BINS += $(B)/ditto
endif
# The simulator's measured latencies, found beside ditto-bench.
$(B)/latencies-tcg.json: bench/latencies-tcg.json
	install -m 0644 $< $@
all: $(BINS) $(FN_BINS) $(B)/latencies-tcg.json

# ---- set-up on a fresh machine ---------------------------------------------
# The stamp depends on the script, so a changed package list reruns it.
$(B)/.deps: deploy/deps.sh
	@mkdir -p $(B)
	./deploy/deps.sh
	@touch $@
deps: $(B)/.deps

# ---- guest image ------------------------------------------------------------
# DITTO_GUEST_KERNEL=amd64|cloud-amd64 picks the guest kernel (deploy/guest-image.sh); the
# stamp keeps the last choice, so changing it builds the image again.
GUEST_IMG := $(B)/guest/vmlinux $(B)/guest/initramfs.cpio.gz $(B)/guest/image.json
GUEST_KERNEL_STAMP := $(B)/guest/.kernel-flavour
$(GUEST_IMG) &: deploy/guest-image.sh deploy/init $(B)/ditto-guest $(GUEST_KERNEL_STAMP) \
		$(B)/guest/runtime.json | $(B)/.deps
	./deploy/guest-image.sh $(B)/guest $(B)/ditto-guest
$(GUEST_KERNEL_STAMP): FORCE
	@mkdir -p $(@D)
	@[ -f $@ ] && [ "$$(cat $@)" = "$(DITTO_GUEST_KERNEL)" ] || echo "$(DITTO_GUEST_KERNEL)" >$@
FORCE:
# The runtime disk (Python, Node.js, the launchers) every VM gets read-only; image.json records it.
$(B)/guest/runtime.img $(B)/guest/runtime.json &: deploy/runtime-image.sh runtimes/python/launcher.py \
		runtimes/nodejs/launcher.js | $(B)/.deps
	./deploy/runtime-image.sh $(B)/guest
guest: $(GUEST_IMG)

# ---- tests -----------------------------------------------------------------
UNIT_SRCS   := $(wildcard tests/lib/test_*.c tests/host-agent/test_*.c tests/guest-worker/test_*.c \
                          tests/controller/test_*.c tests/cli/test_*.c \
                          tests/bench/test_*.c tests/runtimes/test_*.c)
UNIT_BINS   := $(patsubst tests/%.c,$(B)/tests/%,$(UNIT_SRCS))
ASAN_BINS   := $(patsubst tests/%.c,$(B)/asan/tests/%,$(UNIT_SRCS))
# An integration suite is one binary, from tests/integration/test_NAME.c or
# from every file of tests/integration/NAME/, so that however many files it
# has it starts its daemons and boots its VMs once.
INTEG_SRCS  := $(wildcard tests/integration/test_*.c)
INTEG_DIRS  := $(patsubst %/,%,$(sort $(dir $(wildcard tests/integration/*/*.c))))
INTEG_SUITE_BINS := $(patsubst tests/integration/%,$(B)/tests/integration/test_%,$(INTEG_DIRS))
INTEG_BINS  := $(patsubst tests/%.c,$(B)/tests/%,$(INTEG_SRCS)) $(INTEG_SUITE_BINS)
TEST_LIBS    = -lcmocka $(LIBS_AGENT) $(LIBS_CLIENT) $(LIBS_PQ) -lm

# The controller's tests also link the controller's modules.
$(B)/tests/controller/%: $(B)/obj/tests/controller/%.o $(B)/libtestsupport.a $(B)/libcontroller.a $(B)/libditto.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(TEST_LIBS) $(LIBS_CTL)
$(B)/asan/tests/controller/%: $(B)/asan/tests/controller/%.o $(B)/asan/libtestsupport.a $(B)/asan/libcontroller.a $(B)/asan/libditto.a
	@mkdir -p $(@D)
	$(CC) $(SAN) -o $@ $^ $(TEST_LIBS) $(LIBS_CTL)

# The benchmark's tests link its modules (all but main).
$(B)/tests/bench/%: $(B)/obj/tests/bench/%.o $(B)/libtestsupport.a $(B)/libbench.a $(B)/libditto.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(TEST_LIBS)
$(B)/asan/tests/bench/%: $(B)/asan/tests/bench/%.o $(B)/asan/libtestsupport.a $(B)/asan/libbench.a $(B)/asan/libditto.a
	@mkdir -p $(@D)
	$(CC) $(SAN) -o $@ $^ $(TEST_LIBS)
.SECONDEXPANSION:
$(INTEG_SUITE_BINS): $(B)/tests/integration/test_%: $$(call obj,$$(wildcard tests/integration/%/*.c)) \
		$(B)/libtestsupport.a $(B)/libagent.a $(B)/libguest.a $(B)/libditto.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(TEST_LIBS)

$(B)/tests/%: $(B)/obj/tests/%.o $(B)/libtestsupport.a $(B)/libagent.a $(B)/libguest.a $(B)/libditto.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(TEST_LIBS)
$(B)/asan/tests/%: $(B)/asan/tests/%.o $(B)/asan/libtestsupport.a $(B)/asan/libagent.a $(B)/asan/libguest.a $(B)/asan/libditto.a
	@mkdir -p $(@D)
	$(CC) $(SAN) -o $@ $^ $(TEST_LIBS)

# Unit tests; the controller's API tests also start the real binary.
unit: $(UNIT_BINS) $(BINS)
	@for t in $(UNIT_BINS); do echo "== $$t"; DITTO_TESTDATA=tests/data DITTO_BUILD=$(B) $$t || exit 1; done
unit-asan: $(ASAN_BINS) $(BINS)
	@for t in $(ASAN_BINS); do echo "== $$t (asan+ubsan)"; DITTO_TESTDATA=tests/data DITTO_BUILD=$(B) $$t || exit 1; done
integration: $(INTEG_BINS) all guest
	@for t in $(INTEG_BINS); do echo "== $$t"; DITTO_BUILD=$(B) $$t || exit 1; done

# ---- the sanitizers end to end ---------------------------------------------
# ditto-controller and ditto-agent built with ASan+UBSan into $(B)/asan/e2e/, beside links to
# the build's guest image and functions, so that a suite given DITTO_BUILD=$(B)/asan/e2e starts
# them. Every sanitized process writes its report (ASan, UBSan, LeakSanitizer at exit) into
# $(B)/asan/e2e/reports/ instead of a daemon log that a passing suite never reads: the run
# fails on a failed suite or on any report there, and prints the reports.
ASAN_E2E        := $(B)/asan/e2e
ASAN_E2E_BINS   := $(ASAN_E2E)/ditto-controller $(ASAN_E2E)/ditto-agent
ASAN_E2E_SUITES := $(B)/tests/integration/test_controller $(B)/tests/integration/test_agent
ASAN_E2E_REPORTS = $(abspath $(ASAN_E2E))/reports
ASAN_E2E_ENV     = ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path=$(ASAN_E2E_REPORTS)/asan \
		   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(ASAN_E2E_REPORTS)/ubsan

$(ASAN_E2E)/ditto-agent: $(B)/asan/host-agent/main.o $(B)/asan/libagent.a $(B)/asan/libditto.a
	@mkdir -p $(@D)
	$(CC) $(SAN) -o $@ $^ $(LIBS_AGENT)
$(ASAN_E2E)/ditto-controller: $(B)/asan/controller/main.o $(B)/asan/libcontroller.a \
		$(B)/asan/libditto.a
	@mkdir -p $(@D)
	$(CC) $(SAN) -o $@ $^ $(LIBS_CTL)

test-asan-build: $(ASAN_E2E_BINS) $(ASAN_E2E_SUITES) all guest
test-asan: | $(B)/.deps
	$(MAKE) --no-print-directory -j$(JOBS) test-asan-build
	@ln -sfn $(abspath $(B))/guest $(ASAN_E2E)/guest
	@ln -sfn $(abspath $(B))/functions $(ASAN_E2E)/functions
	@rm -rf $(ASAN_E2E_REPORTS) && mkdir -p $(ASAN_E2E_REPORTS)
	@st=0; for t in $(ASAN_E2E_SUITES); do \
		echo "== $$t (controller and agent with asan+ubsan)"; \
		$(ASAN_E2E_ENV) DITTO_BUILD=$(ASAN_E2E) $$t || { st=1; break; }; \
	done; \
	for f in $(ASAN_E2E_REPORTS)/*; do \
		[ -e "$$f" ] || continue; echo "== sanitizer report $$f"; cat "$$f"; st=1; \
	done; \
	exit $$st

# ---- fuzzing ---------------------------------------------------------------
# libFuzzer harnesses, one per codec and parser (tests/fuzz/fuzz_NAME.c, seeds in
# tests/fuzz/corpus/NAME/), built with clang and ASan+UBSan over all the code they reach.
# `make fuzz` runs each for FUZZ_SECONDS, `make test` for FUZZ_TEST_SECONDS; either fails
# on any finding (crash, sanitizer report, broken invariant, hang), whose input is kept in
# $(B)/fuzz/findings/NAME/. Inputs found along the way collect in $(B)/fuzz/corpus/NAME/.
FUZZ_CC           ?= clang
FUZZ_SECONDS      ?= 60
FUZZ_TEST_SECONDS ?= 30
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# Clang warns where gcc does not: only the harnesses themselves obey WERROR.
FUZZ_CFLAGS := -std=c17 -O1 -g $(filter-out -Werror,$(WARN)) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS   := $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_NAMES))
fuzz_obj = $(patsubst %.c,$(B)/fuzz/obj/%.o,$(1))
.PHONY: fuzz fuzz-build
.PRECIOUS: $(B)/fuzz/obj/%.o

$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<
$(B)/fuzz/obj/tests/fuzz/%.o: CPPFLAGS += -Icontroller -Ibench -Itests/fuzz
$(B)/fuzz/obj/tests/fuzz/%.o: FUZZ_CFLAGS += $(filter -Werror,$(WARN))
$(B)/fuzz/libditto.a: $(call fuzz_obj,$(LIB_SRCS))
	@rm -f $@; ar rcs $@ $^
$(B)/fuzz/libcontroller.a: $(call fuzz_obj,$(CTL_SRCS))
	@rm -f $@; ar rcs $@ $^

# What each harness links besides lib/.
$(B)/fuzz/fuzz_route: $(B)/fuzz/libcontroller.a
$(B)/fuzz/fuzz_route: FUZZ_LDLIBS = $(LIBS_CTL)
$(B)/fuzz/fuzz_trace: $(call fuzz_obj,bench/trace.c bench/common.c)
$(B)/fuzz/fuzz_%: $(B)/fuzz/obj/tests/fuzz/fuzz_%.o $(B)/fuzz/libditto.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $(filter %.o,$^) \
		$(filter-out $(B)/fuzz/libditto.a,$(filter %.a,$^)) $(B)/fuzz/libditto.a \
		$(FUZZ_LDLIBS) $(LIBS_AGENT) $(LIBS_CLIENT) -lm

fuzz-build: $(FUZZ_BINS)
fuzz: | $(B)/.deps
	$(MAKE) --no-print-directory -j$(JOBS) fuzz-build
	./tests/fuzz/run.sh $(B)/fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

# Everything is built first, on every core; the suites then run one after
# another (the end-to-end ones boot VMs and must not share the cores).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: | $(B)/.deps
	$(MAKE) --no-print-directory -j$(JOBS) all guest $(UNIT_BINS) $(ASAN_BINS) $(INTEG_BINS) \
		$(FUZZ_BINS)
	$(MAKE) --no-print-directory unit unit-asan
	./tests/fuzz/run.sh $(B)/fuzz $(FUZZ_TEST_SECONDS) $(FUZZ_NAMES)
	$(MAKE) --no-print-directory integration

run: | $(B)/.deps
	$(MAKE) --no-print-directory -j$(JOBS) all guest
	./deploy/demo.sh $(B)

bench: all guest
	$(B)/ditto-bench vcpu --build $(B) --mechanism hotplug --reps 10
	$(B)/ditto-bench vcpu --build $(B) --mechanism precreated --reps 10
	$(B)/ditto-bench invoke --build $(B) --concurrency 1
	$(B)/ditto-bench invoke --build $(B) --concurrency 32

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
