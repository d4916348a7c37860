# vouch: top-level entry points. CMake + CTest do the work underneath.
#   make          build into build/bin and build/lib
#   make check    install missing packages, build, run every test, then the
#                 same tests under ASan+UBSan, then a short fuzz run
#   make demo     install missing packages, build, run the end-to-end demo
#   make fuzz     long fuzz run (FUZZ_SECONDS per target, default 300)
#   make bench    benchmarks; results go to docs/perf.md by hand

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build/asan
FUZZ_BUILD ?= build/fuzz
FUZZ_SECONDS ?= 300
CHECK_FUZZ_SECONDS ?= 10

.PHONY: all build deps check test asan fuzz-build fuzz fuzz-short demo bench clean

all: build

deps:
	@scripts/install-deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVOUCH_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -LE slow

fuzz-build:
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DVOUCH_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all

fuzz: deps fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD)/bin $(FUZZ_SECONDS)

fuzz-short: fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD)/bin $(CHECK_FUZZ_SECONDS)

check: deps
	$(MAKE) test
	$(MAKE) asan
	$(MAKE) fuzz-short
	@echo "make check: all suites passed"

demo: deps build
	scripts/demo.sh $(BUILD)/bin

bench: deps build
	bench/run.sh $(BUILD)/bin
	bench/pki_bench.sh $(BUILD)/bin
	bench/auth_bench.sh $(BUILD)/bin

clean:
	rm -rf build
