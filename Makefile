# pagewalk - one non-recursive GNU Makefile.
#
#   make            library (static + shared), CLI, tests, benchmarks
#   make run        build and run the demo (`pagewalk demo`)
#   make test       build every test with ASan+UBSan and run it (TAP);
#                   concurrency tests also run under TSan; the runs are
#                   parallel (-j$(nproc) unless -j is given), one summary
#   make deps-check no cycle between source files or private headers,
#                   helpers include neither mm/mm.h nor pt/pt.h
#   make stress     tests/test_stress.c for STRESS_ROUNDS rounds (400), ASan and TSan
#   make bench      run the benchmarks (bench/RESULTS.md has the figures)
#   make install    headers, libraries, pagewalk.pc, the CLI and its man page under $(PREFIX)

PREFIX  ?= /usr/local
CC      ?= gcc
CFLAGS  ?= -O2 -g
VERSION := 0.1.0
SOVER   := 0

override CFLAGS += -std=gnu17 -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
	-Wformat=2 -Wwrite-strings -Wno-unused-parameter -fvisibility=hidden -Iinclude -pthread
override CPPFLAGS += -MMD -MP

B        := build
LIB_SRC  := $(wildcard src/*/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
TSAN_SRC := $(wildcard tests/test_*_mt.c) tests/test_stress.c
BENCH_SRC:= $(wildcard bench/bench_*.c)
HDRS     := $(wildcard include/pagewalk/*.h)

# Release objects (PIC, for both libraries).
LIB_OBJ  := $(LIB_SRC:src/%.c=$(B)/obj/%.o)
# Test objects: debug asserts on, ASan + UBSan.
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TLIB_OBJ := $(LIB_SRC:src/%.c=$(B)/tobj/%.o)
TSLIB_OBJ:= $(LIB_SRC:src/%.c=$(B)/tsobj/%.o)

STATIC   := $(B)/libpagewalk.a
SHARED   := $(B)/libpagewalk.so.$(VERSION)
CLI      := $(B)/pagewalk
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
TSAN_TESTS := $(TSAN_SRC:tests/%.c=$(B)/tests-tsan/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
FUZZ     := $(B)/fuzz/fuzz_image

LIBS := -pthread -lzstd -lurcu-memb

.PHONY: all run test test-runs deps-check bench install clean headers-check fuzz stress FORCE
# Keep the sanitizer objects between runs (they are intermediates of pattern rules).
.SECONDARY:
all: $(STATIC) $(SHARED) $(CLI) $(TESTS) $(TSAN_TESTS) $(BENCHES) headers-check deps-check

# Debian packages the build needs (libzstd-dev, clang + libFuzzer): installed
# by tools/deps.sh when run as root, otherwise it says what to install.
DEPS_OK := $(B)/.deps-ok
$(DEPS_OK): tools/deps.sh
	@sh tools/deps.sh
	@mkdir -p $(@D) && touch $@

$(B)/obj/%.o: src/%.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc -fPIC -c $< -o $@

$(B)/tobj/%.o: src/%.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 -DPW_DEBUG $(SAN) -Isrc -c $< -o $@

$(B)/tsobj/%.o: src/%.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 -DPW_DEBUG -fsanitize=thread -Isrc -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ) src/pagewalk.map
	$(CC) -shared -Wl,-soname,libpagewalk.so.$(SOVER) -Wl,--version-script=src/pagewalk.map \
		-Wl,-z,defs -o $@ $(LIB_OBJ) $(LIBS)
	ln -sf libpagewalk.so.$(VERSION) $(B)/libpagewalk.so.$(SOVER)
	ln -sf libpagewalk.so.$(VERSION) $(B)/libpagewalk.so

$(CLI): $(wildcard tools/*.c) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(wildcard tools/*.c) $(STATIC) $(LIBS)

$(B)/tests/%: tests/%.c tests/tap.h tests/fixture.h $(TLIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 -DPW_DEBUG $(SAN) -rdynamic -Isrc -o $@ $< $(TLIB_OBJ) $(LIBS)

$(B)/tests-tsan/%: tests/%.c tests/tap.h tests/fixture.h $(TSLIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 -DPW_DEBUG -fsanitize=thread -rdynamic -Isrc -o $@ $< $(TSLIB_OBJ) $(LIBS)

$(B)/bench/%: bench/%.c bench/bench.h $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O2 -Isrc -o $@ $< $(STATIC) $(LIBS)

# Every public header compiles on its own.
headers-check: $(HDRS:include/pagewalk/%.h=$(B)/hdr/%.ok)
$(B)/hdr/%.ok: include/pagewalk/%.h
	@mkdir -p $(@D)
	echo '#include <pagewalk/$*.h>' | $(CC) $(CFLAGS) -x c -fsyntax-only -
	@touch $@

run: $(CLI)
	./$(CLI) demo

# The sources go one way: no cycle between the release objects' files (by
# their symbols), none between private headers, no mm/mm.h or pt/pt.h in
# helpers (tools/depcheck.sh; it prints the rooms bottom up).
deps-check: $(LIB_OBJ) tools/depcheck.sh
	@sh tools/depcheck.sh $(B)/obj src

# Each test program's run is its own target, re-run on every `make test`:
# build/results/NAME.tap (its TAP) and NAME.rc (its exit status); the TSan
# runs are build/results/tsan/NAME.{tap,rc}, labelled "(tsan)";
# tests/fuzz/smoke.sh is a few seconds of the image fuzzer, one TAP line.
# `make test` makes them in a sub-make with -j$(nproc) unless a -j was given,
# after deps-check; then tests/run.sh --summary prints them in this order and
# the closing line "N passed, N failed, N skipped".
RES       := $(B)/results
ASAN_RUNS := $(TESTS:$(B)/tests/%=$(RES)/%.tap)
FUZZ_RUN  := $(RES)/fuzz_smoke.tap
TSAN_RUNS := $(TSAN_TESTS:$(B)/tests-tsan/%=$(RES)/tsan/%.tap)
RUNS      := $(ASAN_RUNS) $(FUZZ_RUN) $(TSAN_RUNS)
NPROC     := $(shell nproc 2>/dev/null || echo 1)

test:
	@$(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(NPROC)) test-runs
	@sh tests/run.sh --summary $(RUNS)

# The fuzz smoke run (the longest) first, so that -j packs the rest around it.
test-runs: $(FUZZ_RUN) $(ASAN_RUNS) $(TSAN_RUNS) $(CLI)

$(ASAN_RUNS): $(RES)/%.tap: $(B)/tests/% tests/run.sh FORCE | deps-check
	@sh tests/run.sh --run $@ $<
$(TSAN_RUNS): $(RES)/tsan/%.tap: $(B)/tests-tsan/% tests/run.sh FORCE | deps-check
	@sh tests/run.sh --run $@ $< "(tsan)"
$(FUZZ_RUN): tests/fuzz/smoke.sh $(FUZZ) tests/run.sh FORCE | deps-check
	@sh tests/run.sh --run $@ tests/fuzz/smoke.sh
FORCE:

# tests/test_cli.c runs the CLI built with the sanitizers, build/pagewalk-san.
$(RES)/test_cli.tap: $(B)/pagewalk-san
$(B)/pagewalk-san: $(wildcard tools/*.c tools/*.h) $(TLIB_OBJ)
	$(CC) $(CFLAGS) -O1 -DPW_DEBUG $(SAN) -o $@ $(wildcard tools/*.c) $(TLIB_OBJ) $(LIBS)

# The libFuzzer target over memory-image bytes (clang; tools/deps.sh installs it).
# Library sources are compiled into it with the fuzzer's instrumentation.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 300
$(FUZZ): tests/fuzz/fuzz_image.c $(LIB_SRC) $(HDRS) | $(DEPS_OK)
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu17 -g -O1 -DPW_DEBUG -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -Iinclude -Isrc -o $@ tests/fuzz/fuzz_image.c $(LIB_SRC) $(LIBS)

# A long fuzzing run (FUZZ_TIME seconds), keeping its corpus in build/fuzz/corpus.
fuzz: $(FUZZ)
	@mkdir -p $(B)/fuzz/corpus
	./$(FUZZ) -max_total_time=$(FUZZ_TIME) -max_len=16384 -rss_limit_mb=4096 \
		-artifact_prefix=$(B)/fuzz/ $(B)/fuzz/corpus tests/fuzz/seeds

# The stress test for longer (tests/test_stress.c), under ASan+UBSan and TSan.
STRESS_ROUNDS ?= 400
stress: $(B)/tests/test_stress $(B)/tests-tsan/test_stress
	PW_STRESS_ROUNDS=$(STRESS_ROUNDS) ./$(B)/tests/test_stress
	PW_STRESS_ROUNDS=$(STRESS_ROUNDS) ./$(B)/tests-tsan/test_stress

bench: $(BENCHES)
	@for b in $(BENCHES); do ./$$b || exit 1; done

install: $(STATIC) $(SHARED)
	install -d $(DESTDIR)$(PREFIX)/include/pagewalk $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(HDRS) $(DESTDIR)$(PREFIX)/include/pagewalk/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libpagewalk.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libpagewalk.so.$(SOVER)
	ln -sf libpagewalk.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libpagewalk.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' pagewalk.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/pagewalk.pc
	@if [ -x $(CLI) ]; then install -d $(DESTDIR)$(PREFIX)/bin && install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/; fi
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 docs/pagewalk.1 $(DESTDIR)$(PREFIX)/share/man/man1/

clean:
	rm -rf $(B)

-include $(wildcard $(B)/*/*.d $(B)/*/*/*.d)
