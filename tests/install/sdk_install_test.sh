#!/usr/bin/env bash
# The C++ SDK as a program outside this tree sees it (ctest `sdk-install`):
#   1. `cmake --install` the build into a temporary prefix;
#   2. build examples/hello as a separate CMake project with find_package(iii), and the same
#      source a second time with nothing but `pkg-config --cflags --libs iii`;
#   3. run each build as a worker against the real engine on a free loopback port and call its
#      math::add through `iii trigger`.
# Usage: sdk_install_test.sh <build dir>    Every wait is bounded; everything started is stopped.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IIIBIN="$BUILD/iii"
SCRATCH=$(mktemp -d /tmp/iii-sdk-install.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$SCRATCH"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "1. install into $SCRATCH/prefix"
cmake --install "$BUILD" --prefix "$SCRATCH/prefix" >"$SCRATCH/install.log" 2>&1 || fail "cmake --install"
for f in include/iii/iii.h lib/libiii_sdk.a lib/libiii_wire.a lib/cmake/iii/iiiConfig.cmake lib/pkgconfig/iii.pc; do
  [ -f "$SCRATCH/prefix/$f" ] || fail "not installed: $f"
done

echo "2a. build examples/hello with find_package(iii)"
cmake -S "$ROOT/examples/hello" -B "$SCRATCH/hello" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$SCRATCH/prefix" >"$SCRATCH/hello-cmake.log" 2>&1 || fail "configure examples/hello"
cmake --build "$SCRATCH/hello" >>"$SCRATCH/hello-cmake.log" 2>&1 || fail "build examples/hello"

echo "2b. build the same source with pkg-config only"
export PKG_CONFIG_PATH="$SCRATCH/prefix/lib/pkgconfig"
# shellcheck disable=SC2046  # pkg-config prints several words on purpose
c++ -std=c++20 -O1 "$ROOT/examples/hello/math_worker.cpp" -o "$SCRATCH/math_worker_pc" $(pkg-config --cflags --libs iii) \
  >"$SCRATCH/hello-pc.log" 2>&1 || fail "build with pkg-config"

echo "3. run both against the engine"
PORT=$(free_port)
mkdir -p "$SCRATCH/engine"
printf 'workers:\n  - name: iii-worker-manager\n    config: { host: 127.0.0.1, port: %s }\n' "$PORT" >"$SCRATCH/engine/config.yaml"
(cd "$SCRATCH/engine" && exec "$IIIBIN" --config config.yaml) >"$SCRATCH/engine.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'listening for workers' "$SCRATCH/engine.log" && break; sleep 0.1; done
grep -q 'listening for workers' "$SCRATCH/engine.log" || fail "the engine did not start within 10 s"

for worker in "$SCRATCH/hello/math_worker" "$SCRATCH/math_worker_pc"; do
  name=$(basename "$worker")
  III_URL="ws://127.0.0.1:$PORT" "$worker" >"$SCRATCH/$name.log" 2>&1 &
  wpid=$!
  PIDS+=($wpid)
  result=""
  for _ in $(seq 50); do  # the worker registers math::add right after connecting
    result=$(timeout 10 "$IIIBIN" trigger --address 127.0.0.1 --port "$PORT" --timeout-ms 2000 math::add a=19 b=23 2>&1) && break
    sleep 0.1
  done
  echo "   $name: math::add(19, 23) -> $result"
  echo "$result" | tr -d ' \n' | grep -q '"c":42' || fail "$name: expected {\"c\":42}, got: $result"
  kill "$wpid"
  wait "$wpid" 2>/dev/null || true
done
echo "PASS: the installed SDK builds with CMake and pkg-config and its workers serve calls"
