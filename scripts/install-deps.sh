#!/usr/bin/env bash
# Installs everything the build, the tests and the benchmarks need, from Debian and npm only.
# Idempotent: a second run on a machine that has everything does no network I/O and takes < 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libsimdjson-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libsqlite3-dev libhiredis-dev libssl-dev
  json-schema-test-suite # the official JSON-Schema-Test-Suite, run by tests/unit/json_schema_test.cpp
  openssl ca-certificates   # the system CA store HTTPS calls verify against; test certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  redis-server wrk nats-server libnats-dev clang
  nginx        # the reverse-proxy peer of the HTTP trigger rows (bench/run.sh starts its own, never the service)
  prometheus   # the observability tests start a real one that scrapes GET /metrics
  chromium     # the console's browser tests (tests/node/console-browser.test.mjs, through playwright-core)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi

# valijson (JSON Schema validation of configuration values) is header-only, but its Debian
# package depends on every JSON library it has an adapter for (Qt, POCO, …: some hundred MB).
# Its headers are taken from that package alone, into /usr/local/include (on the default path).
if [ ! -f /usr/include/valijson/validator.hpp ] && [ ! -f /usr/local/include/valijson/validator.hpp ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download libvalijson-dev >/dev/null 2>&1); then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    (cd "$tmp" && apt-get download libvalijson-dev >/dev/null)
  fi
  dpkg-deb -x "$tmp"/libvalijson-dev_*.deb "$tmp/root"
  $SUDO mkdir -p /usr/local/include
  $SUDO cp -r "$tmp/root/usr/include/valijson" /usr/local/include/
  rm -rf "$tmp"
  echo "install-deps: valijson headers from Debian's libvalijson-dev in /usr/local/include/valijson"
fi

# Node.js: the machine image ships it (with npm); install Debian's only where it is missing,
# since Debian's npm package conflicts with the NodeSource build.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing_node=1; else missing_node=0; fi
if ((missing_node)); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends nodejs npm
fi

# The official Node SDK, pinned, for the integration tests, the examples' Node workers and the
# Node rows of the benchmarks (bench/node: iii-sdk and the NATS Node client), and playwright-core
# (driving Debian's chromium) for the console's browser tests (node_modules/ is not in git).
for dir in tests/node examples/hello examples/quickstart/caller-worker examples/streams bench/node; do
  if [ ! -f "$dir/node_modules/iii-sdk/package.json" ] ||
     { [ "$dir" = tests/node ] && [ ! -f "$dir/node_modules/playwright-core/package.json" ]; }; then
    echo "install-deps: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)  # exactly what package-lock.json pins
  fi
done
