#  Makefile - thin front end over CMake; `make help` lists the targets
#
#  Every target that builds first runs scripts/deps.sh (quiet when nothing
#  is missing), so a fresh Debian 12 with only git and make can `make test`.

SHELL := /bin/bash

PREFIX     ?= /usr/local
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= 2
CMAKE      ?= cmake
CTEST      ?= ctest

#  CI=true (set by .ci/run and most CI services) turns warnings into errors.
ifeq ($(CI),true)
WERROR ?= ON
else
WERROR ?= OFF
endif

CONFIGURE = $(CMAKE) -S . -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTR_WERROR=$(WERROR)

ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV = TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1 die_after_fork=0"

#  C sources that clang-format owns.
FORMAT_DIRS  := runtime actors kernels cli tests examples
FORMAT_FILES  = $(shell find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) \
                        2>/dev/null | LC_ALL=C sort) $(wildcard *.c *.h)

all: build

.PHONY: all help deps build demo test check tsan bench format format-check install clean

help:
	@echo "make [all|build] configure and build build/ (the default target)"
	@echo "make deps          install missing Debian packages (scripts/deps.sh)"
	@echo "make demo          build and run the demo (build/hello for now)"
	@echo "make test          build and run every test with ctest"
	@echo "make check         ASan+UBSan build in build-asan/ and its tests"
	@echo "make tsan          ThreadSanitizer build in build-tsan/ and its tests"
	@echo "make bench         build and run every benchmark"
	@echo "make format        clang-format -i the C sources"
	@echo "make format-check  fail if a C source is not clang-formatted"
	@echo "make install       install to PREFIX (now $(PREFIX))"
	@echo "make clean         remove the build trees"

deps:
	@bash scripts/deps.sh

build: deps
	$(CONFIGURE) -B build -DTR_SANITIZE=
	$(CMAKE) --build build -j$(JOBS)

demo: build
	./build/hello

test: build
	$(CTEST) --test-dir build --output-on-failure -j$(JOBS)

check: deps
	$(CONFIGURE) -B build-asan -DTR_SANITIZE=address,undefined
	$(CMAKE) --build build-asan -j$(JOBS)
	$(ASAN_ENV) $(CTEST) --test-dir build-asan --output-on-failure -j$(JOBS)

tsan: deps
	$(CONFIGURE) -B build-tsan -DTR_SANITIZE=thread
	$(CMAKE) --build build-tsan -j$(JOBS)
	$(TSAN_ENV) $(CTEST) --test-dir build-tsan --output-on-failure -j$(JOBS)

#  Benchmarks print figures; one failing to run fails the target.
bench: build
	$(CMAKE) --build build --target bench -j$(JOBS)
	@set -e; found=0; \
	for bench in build/bench_*; do \
	    [ -x "$$bench" ] || continue; found=1; \
	    echo "==== $$bench"; "$$bench"; \
	done; \
	[ $$found = 1 ] || echo "no benchmarks (tests/bench/bench_*.c)"

format: deps
	@files="$(FORMAT_FILES)"; \
	if [ -n "$$files" ]; then clang-format -i $$files; fi

format-check: deps
	@files="$(FORMAT_FILES)"; \
	if [ -n "$$files" ]; then clang-format --dry-run -Werror $$files; fi
	@echo "format-check: ok"

install: build
	$(CMAKE) --install build --prefix "$(PREFIX)"

clean:
	rm -rf build build-asan build-tsan
