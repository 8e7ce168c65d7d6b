# iii — the C++ engine. `make run` and `make test` work on a fresh Debian 12 machine as root.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CONFIG ?=

.PHONY: all deps configure build run test unit-test bench fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Starts the engine on the embedded default (or CONFIG=path/to/config.yaml).
run: build
	./$(BUILD_DIR)/iii $(if $(CONFIG),--config $(CONFIG),)

# Every test: unit tests, C++ SDK integration tests, Node tests with the official iii-sdk.
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600

# The Release tree builds no tests: on a fresh 2-core machine that keeps the first `make bench`
# (build + about 15 minutes of runs: every figure the median of three) near 25 minutes.
bench:
	@$(MAKE) BUILD_DIR=build-release BUILD_TYPE=Release CMAKE_ARGS=-DIII_BUILD_TESTS=OFF build
	@bash bench/run.sh

# libFuzzer targets (clang, ASan + UBSan, every library instrumented); not part of `make test`:
# the protocol frame parser through the engine, and the WebSocket frame reader. FUZZ_SECONDS each.
FUZZ_SECONDS ?= 120
fuzz: deps
	@cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DIII_FUZZ=ON -DIII_BUILD_TESTS=OFF -DIII_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-fuzz --target fuzz_frame_parser fuzz_ws_frame -j $(JOBS)
	@mkdir -p build-fuzz/corpus build-fuzz/ws-corpus && cp -n fuzz/corpus/* build-fuzz/corpus/ 2>/dev/null || true
	./build-fuzz/fuzz_frame_parser -max_total_time=$(FUZZ_SECONDS) -max_len=4096 build-fuzz/corpus
	./build-fuzz/fuzz_ws_frame -max_total_time=$(FUZZ_SECONDS) -max_len=8192 build-fuzz/ws-corpus

clean:
	rm -rf $(BUILD_DIR) build-release build-fuzz
