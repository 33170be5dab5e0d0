# The README's commands. Each installs what is missing (scripts/setup.sh),
# configures with CMake and builds; `make test` runs every test twice: a
# normal build and an ASan+UBSan build, and checks that nothing was left
# behind (scripts/ctest-checked.sh).
BUILD      ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD?= build-bench
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all setup build demo docs test test-compilers test-normal test-asan bench install clean fuzz

all: build

setup:
	@bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# demo builds only the library and the examples, quietly (the log is in
# $(BUILD)/demo-build.log), then runs and checks every example.
demo: setup
	@bash scripts/run-examples.sh --build $(BUILD)

# docs: the HTML reference manual from the headers (Doxygen, installed by
# setup only for this target) in $(BUILD)/docs/html; `make install` copies
# it to share/doc/mproc/html once built.
docs:
	@bash scripts/setup.sh --docs
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) --target docs
	@cat $(BUILD)/docs/warnings.log
	@echo "reference manual: $(BUILD)/docs/html/index.html"

test-normal: build
	bash scripts/ctest-checked.sh $(BUILD)

test-asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMP_ASAN=ON -DMP_UBSAN=ON \
	  -DMP_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 bash scripts/ctest-checked.sh $(ASAN_BUILD)

# The library, examples and benchmarks must also compile warning-free with
# -O3 (Release: more maybe-uninitialized analysis) and with clang.
test-compilers: setup
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DMP_BUILD_TESTS=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build build-release -j $(JOBS)
	@if command -v clang >/dev/null; then \
	  CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null && \
	  cmake --build build-clang -j $(JOBS); \
	else echo "clang not installed: skipping the clang build"; fi

test: test-compilers test-normal test-asan

bench:
	@bash scripts/setup.sh --bench
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DMP_BUILD_TESTS=OFF \
	  -DMP_BUILD_EXAMPLES=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build $(BENCH_BUILD) -j $(JOBS)
	bash bench/run.sh $(BENCH_BUILD)

fuzz: setup
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DMP_LIBFUZZER=ON -DMP_ASAN=ON \
	  -DMP_UBSAN=ON -DMP_BUILD_BENCH=OFF -DMP_BUILD_EXAMPLES=OFF >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	@echo "fuzzers built in build-fuzz/: run e.g. build-fuzz/fuzz_obj fuzz/corpus/fuzz_obj"

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD) build-fuzz build-release build-clang
