#!/usr/bin/env bash
# Runs every benchmark of issues 5 and 14 side by side with its peer, prints a table and writes
# bench/results/latest.json. Builds nothing: `make bench` does the Release build first.
#
#   bash bench/run.sh            # full run (BENCH_SECONDS per measurement, default 3; ~15 min)
#   bash bench/run.sh --smoke    # every benchmark once for ~1 s (checks that they work)
#   BENCH_BUILD_DIR=build bash bench/run.sh   # use another build directory
#   BENCH_ONLY="call http" bash bench/run.sh   # only some families: call payload http state stream queue node scale obs cluster
#   BENCH_ENGINE=/path/to/iii bash bench/run.sh  # measure another engine binary
#   BENCH_REPEAT=5 bash bench/run.sh            # runs per measurement (default 3; --smoke: 1)
#
# Every figure is the median of BENCH_REPEAT runs (min and max kept), ours and the peer's runs
# interleaved (ours, peer, ours, peer, ...) so that drift in the machine's load hits both. A peer
# with settings that matter (libnats SendAsap or batching; nginx worker_processes 1 or auto) runs
# with each, and report.py reports the better one on every row and names it.
#
# Ratio convention (every row): ratio = ours / peer. The "better" column says whether a higher or
# a lower figure (and so a higher or lower ratio) is better for us.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SMOKE=0
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
# 3 s per run (it was 5 with one run each): three interleaved runs of everything keep a full run
# near 15 minutes.
SECONDS_EACH=${BENCH_SECONDS:-3}
REPS=${BENCH_REPEAT:-3}
((SMOKE)) && SECONDS_EACH=1 REPS=1
ONLY=${BENCH_ONLY:-"call payload http state stream queue node scale obs cluster"}
BUILD=${BENCH_BUILD_DIR:-build-release}
[[ $BUILD == /* ]] && BIN=$BUILD || BIN=$ROOT/$BUILD
OUT=$ROOT/bench/results
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/iii-bench.XXXXXX)
RAW=$WORK/raw.jsonl
: >"$RAW"

ENGINE_BIN=${BENCH_ENGINE:-$BIN/iii}
[[ -x $ENGINE_BIN ]] || { echo "bench: engine $ENGINE_BIN missing; run 'make bench'" >&2; exit 1; }
for b in bench_call bench_http bench_http_function bench_state bench_stream bench_queue bench_scale \
  bench_queue_jetstream bench_upstream; do
  [[ -x $BIN/$b ]] || { echo "bench: $BIN/$b missing; run 'make bench' (Release build into build-release/)" >&2; exit 1; }
done
for t in nats-server redis-server wrk nginx; do
  command -v $t >/dev/null || { echo "bench: $t not found; run scripts/install-deps.sh" >&2; exit 1; }
done

# The stream fan-out opens 1,000 subscriber sockets: the engine, nats-server and the bench programs
# (which inherit this limit) need more file descriptors than a default soft limit of 1024.
# Raised to 4096 only when lower, never to the hard limit: with the soft limit at a CI machine's hard
# limit (a million or more), libnats connections timed out in every NATS row.
if [[ $(ulimit -n) != unlimited ]] && (( $(ulimit -n) < 4096 )); then
  ulimit -n 4096 2>/dev/null || true
fi
[[ $(ulimit -n) == unlimited ]] || (( $(ulimit -n) >= 4096 )) ||
  echo "bench: warning: only $(ulimit -n) file descriptors (ulimit -n); the stream fan-out needs ~1,100" >&2

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
has() { [[ " $ONLY " == *" $1 "* ]]; }
if has node && [[ ! -f $ROOT/bench/node/node_modules/iii-sdk/package.json ]]; then
  # As scripts/install-deps.sh does: exactly what bench/node/package-lock.json pins.
  echo "bench: npm ci in bench/node" >&2
  (cd "$ROOT/bench/node" && npm ci --no-audit --no-fund --loglevel=error >&2) || { echo "bench: npm ci failed" >&2; exit 1; }
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # port, name
  for _ in $(seq 1 200); do
    (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: $2 did not listen on port $1" >&2; exit 1
}

# ---- servers: our engine (worker port + HTTP worker + in-memory state + streams), nats-server,
# redis-server
# Observability: every engine this script starts names `iii-observability` explicitly. The engine
# of the call/payload/http/state/stream rows (and the queue engine) runs it as users get it by
# default: on, spans of every call in memory (sampling 1.0, memory exporter) and the trace archive
# on disk (./data/observability/traces under $WORK, removed at the end). Its cost is measured by the
# `obs` family: the same binary with observability on and off, back to back.
OBS_DEFAULT="{ enabled: true, exporter: memory, sampling_ratio: 1.0 }"
ENGINE_PORT=$(free_port); HTTP_PORT=$(free_port); NATS_PORT=$(free_port); REDIS_PORT=$(free_port)
STREAM_PORT=$(free_port); RBAC_PORT=$(free_port)
# The second worker listener checks every call against RBAC rules (docs/security.md), for the
# RBAC-vs-plain rows: same engine, same workers, only the callers connect through it.
cat >"$WORK/engine.yaml" <<YAML
workers:
  - name: iii-worker-manager
  - name: iii-worker-manager
    config:
      port: $RBAC_PORT
      host: 127.0.0.1
      rbac:
        expose_functions: ['match("admin::public::*")', 'match("bench::*")']
  - name: http
    config: {port: $HTTP_PORT, host: 127.0.0.1}
  - name: iii-http-functions
    config:
      security: { url_allowlist: ["127.0.0.1"], block_private_ips: false, require_https: false }
  - name: state
  - name: iii-stream
    config: { host: 127.0.0.1, port: $STREAM_PORT, adapter: { name: kv, config: { store_method: in_memory } } }
  - name: iii-observability
    config: $OBS_DEFAULT
YAML
(cd "$WORK" && exec "$ENGINE_BIN" --port "$ENGINE_PORT" --host 127.0.0.1 --config "$WORK/engine.yaml" --log-level warn \
  >"$WORK/engine.log" 2>&1) &
ENGINE_PID=$!; PIDS+=($ENGINE_PID)
nats-server -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 &
NATS_PID=$!; PIDS+=($NATS_PID)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!; PIDS+=($REDIS_PID)
wait_port "$ENGINE_PORT" engine; wait_port "$RBAC_PORT" "engine rbac listener"; wait_port "$HTTP_PORT" "engine http"; wait_port "$NATS_PORT" nats-server
wait_port "$REDIS_PORT" redis-server
ENGINE_URL=ws://127.0.0.1:$ENGINE_PORT
NATS_URL=nats://127.0.0.1:$NATS_PORT

FAILED=0
run() {  # label, command...
  local label=$1; shift
  echo "bench: $label" >&2
  if ! timeout 120 "$@" >>"$RAW" 2>"$WORK/err"; then
    echo "bench: $label FAILED:" >&2; tail -20 "$WORK/err" >&2; FAILED=1
    if [[ $label == *nats* ]]; then echo "bench: nats-server log (tail):" >&2; tail -5 "$WORK/nats.log" >&2; fi
    if [[ $label == *jetstream* ]]; then echo "bench: jetstream log (tail):" >&2; tail -5 "$WORK/jetstream.log" >&2; fi
  fi
}
source "$ROOT/bench/lib/peers.sh"

S=$SECONDS_EACH
if has call; then  # ours and the peer back to back for each shape, so both see the same machine load
  for shape in "rtt 1" "64 64" "1024 1024"; do
    set -- $shape
    for rep in $(seq $REPS); do
      run "call $1 iii #$rep" "$BIN/bench_call" --system iii --url $ENGINE_URL --inflight $2 --seconds $S \
        --name call_$1 --cpu-pid $ENGINE_PID
      # The same calls from callers on the RBAC listener (workers on the plain one), right after
      # the plain run so that both see the same machine.
      [[ $1 == 1024 ]] || run "call $1 iii-rbac #$rep" "$BIN/bench_call" --system iii --label iii-rbac \
        --url $ENGINE_URL --caller-url ws://127.0.0.1:$RBAC_PORT --inflight $2 --seconds $S --name call_$1
      # Under load, callers that wait through callbacks on both sides too (report.py picks each
      # side's best way and names it): trigger_then (and inline echo handlers) for ours, then the
      # same on the SDK's raw forms (JSON text, no DOM), asynchronous subscriptions for NATS.
      [[ $1 == rtt ]] || run "call $1 iii-callback #$rep" "$BIN/bench_call" --system iii --label iii-callback \
        --api callback --inline 1 --url $ENGINE_URL --inflight $2 --seconds $S --name call_$1 --cpu-pid $ENGINE_PID
      [[ $1 == rtt ]] || run "call $1 iii-raw #$rep" "$BIN/bench_call" --system iii --label iii-raw --raw 1 \
        --api callback --inline 1 --url $ENGINE_URL --inflight $2 --seconds $S --name call_$1 --cpu-pid $ENGINE_PID
      for api in sync async; do
        [[ $1 == rtt && $api == async ]] && continue
        for asap in 1 0; do  # libnats with SendAsap, then with its default write batching
          label=nats-asap; ((asap)) || label=nats-batch
          [[ $api == async ]] && label=nats-async-${label#nats-}
          run "call $1 $label #$rep" "$BIN/bench_call" --system nats --label $label --api $api --send-asap $asap \
            --url $NATS_URL --inflight $2 --seconds $S --name call_$1 --cpu-pid $NATS_PID
        done
      done
    done
  done
fi
if has payload; then
  PS=$S; ((SMOKE)) || PS=$(( S > 3 ? 3 : S ))
  for size in 1024 65536 1000000; do
    for rep in $(seq $REPS); do
      run "payload $size iii #$rep" "$BIN/bench_call" --system iii --url $ENGINE_URL --inflight 1 --payload $size \
        --seconds $PS --name payload_$size
      # The same through the SDK's raw forms (payload and result as JSON text, no DOM on either
      # side), as libnats hands over bytes: report.py reports the better of the two and names it.
      run "payload $size iii-raw #$rep" "$BIN/bench_call" --system iii --label iii-raw --raw 1 --api callback \
        --inline 1 --url $ENGINE_URL --inflight 1 --payload $size --seconds $PS --name payload_$size
      for asap in 1 0; do
        label=nats-asap; ((asap)) || label=nats-batch
        run "payload $size $label #$rep" "$BIN/bench_call" --system nats --label $label --send-asap $asap \
          --url $NATS_URL --inflight 1 --payload $size --seconds $PS --name payload_$size
      done
    done
  done
fi
if has http; then
  # Peer of the same shape as the trigger (client -> proxy -> another process and back): nginx as
  # a keep-alive reverse proxy to bench_upstream, which answers as the floor does. Two nginx, with
  # worker_processes 1 and auto (2 here); the better is reported on each row.
  UP_PORT=$(free_port)
  "$BIN/bench_upstream" --port $UP_PORT 2>"$WORK/upstream.log" &
  PIDS+=($!)
  wait_port $UP_PORT bench_upstream
  start_nginx 1 1 $UP_PORT; NGINX_1=$NGINX_PORT
  start_nginx auto auto $UP_PORT; NGINX_AUTO=$NGINX_PORT
  for rep in $(seq $REPS); do  # each run: ours, the floor, nginx 1, nginx auto; at 1 then 64 connections
    run "http #$rep" "$BIN/bench_http" --engine-url $ENGINE_URL --http-url http://127.0.0.1:$HTTP_PORT \
      --connections 1,64 --seconds $S --peers nginx-1=http://127.0.0.1:$NGINX_1,nginx-auto=http://127.0.0.1:$NGINX_AUTO
  done
  # A function that is an HTTP endpoint, called through the engine, vs the same endpoint called
  # directly (same harness, same threads).
  for rep in $(seq $REPS); do
    run "http function #$rep" "$BIN/bench_http_function" --engine-url $ENGINE_URL --concurrency 1,16 --seconds $S
  done
fi
if has state; then
  # 16 operations in flight, each side in its ways (bench_state --api; report.py takes the
  # best of each): ours from 16 blocking threads or 16 trigger_then chains on one connection
  # (with DOM payloads, or JSON text through the SDK's raw forms);
  # Redis from 16 hiredis connections with one command in flight each, driven by 16 blocking
  # threads or by one thread with poll() (pipelining would be another shape).
  for rep in $(seq $REPS); do
    for api in blocking callback raw; do
      run "state iii $api #$rep" "$BIN/bench_state" --system iii --label iii-$api --api $api --url $ENGINE_URL \
        --concurrency 16 --seconds $((S * 2))
    done
    for api in blocking loop; do
      run "state redis $api #$rep" "$BIN/bench_state" --system redis --label redis-$api --api $api \
        --redis 127.0.0.1:$REDIS_PORT --concurrency 16 --seconds $((S * 2))
    done
  done
fi
if has stream; then
  # A: one writer, N subscriber sockets on one group (1,000; 100 in a smoke run), window 64; the
  # same epoll receiver harness reads our WebSocket frames and NATS MSG lines. B: stream::set from
  # 16 threads on one SDK connection vs Redis HSET + PUBLISH pipelined on 16 hiredis connections.
  SUBS=1000; ((SMOKE)) && SUBS=100
  STREAM_OK=1
  if grep -q "iii-stream\` is not supported" "$WORK/engine.log"; then
    echo "bench: stream (ours) skipped: this engine has no iii-stream worker yet" >&2; STREAM_OK=0
  elif ! (wait_port "$STREAM_PORT" "engine stream port"); then  # a subshell: its exit only fails this family
    FAILED=1; STREAM_OK=0
  fi
  for rep in $(seq $REPS); do
    ((STREAM_OK)) && run "stream fan-out iii #$rep" "$BIN/bench_stream" --mode fanout --system iii --url $ENGINE_URL \
      --stream-url ws://127.0.0.1:$STREAM_PORT --subscribers $SUBS --window 64 --inflight 64 --seconds $S
    run "stream fan-out nats-asap #$rep" "$BIN/bench_stream" --mode fanout --system nats --label nats-asap --nats-asap \
      --url $NATS_URL --subscribers $SUBS --window 64 --seconds $S
    run "stream fan-out nats-batch #$rep" "$BIN/bench_stream" --mode fanout --system nats --label nats-batch \
      --url $NATS_URL --subscribers $SUBS --window 64 --seconds $S
  done
  for rep in $(seq $REPS); do
    ((STREAM_OK)) && run "stream set iii #$rep" "$BIN/bench_stream" --mode set --system iii --url $ENGINE_URL \
      --concurrency 16 --seconds $S
    run "stream set redis #$rep" "$BIN/bench_stream" --mode set --system redis --redis 127.0.0.1:$REDIS_PORT \
      --concurrency 16 --seconds $S
  done
fi
if has queue; then
  # A separate engine with only the built-in queue (file-based, durable), so the queue worker, which
  # is newer than the rest, cannot disturb the other benchmarks. Peer: NATS JetStream (a nats-server
  # of its own with -js, file storage under $WORK), see bench_queue_jetstream.cpp.
  Q_PORT=$(free_port)
  mkdir -p "$WORK/queue"
  cat >"$WORK/queue.yaml" <<YAML
workers:
  - name: queue
    config:
      adapter: {name: builtin, config: {store_method: file_based, file_path: $WORK/queue}}
      queue_configs:
        bench: {concurrency: 64, max_retries: 1}
  - name: iii-observability
    config: $OBS_DEFAULT
YAML
  (cd "$WORK" && exec "$ENGINE_BIN" --port "$Q_PORT" --host 127.0.0.1 --config "$WORK/queue.yaml" --log-level warn \
    >"$WORK/queue-engine.log" 2>&1) &
  Q_PID=$!; PIDS+=($Q_PID)
  wait_port "$Q_PORT" "queue engine"
  if grep -q "not supported" "$WORK/queue-engine.log"; then
    echo "bench: queue skipped: this engine has no queue worker yet" >&2
  else
    start_jetstream
    for rep in $(seq $REPS); do
      run "queue iii #$rep" "$BIN/bench_queue" --url ws://127.0.0.1:$Q_PORT --producers 16 --seconds $S
      for asap in 1 0; do
        label=jetstream-asap; ((asap)) || label=jetstream-batch
        run "queue $label #$rep" "$BIN/bench_queue_jetstream" --url nats://127.0.0.1:$JS_PORT --producers 16 \
          --max-ack-pending 64 --send-asap $asap --label $label --seconds $S
      done
    done
  fi
  kill $Q_PID 2>/dev/null
fi
has node && node_family
# The cost and the memory bounds of iii-observability; several engines on one Redis.
has obs && source "$ROOT/bench/lib/obs.sh"
has cluster && source "$ROOT/bench/lib/cluster.sh"
if has scale; then
  if ((SMOKE)); then
    run "scale" "$BIN/bench_scale" --engine-bin "$ENGINE_BIN" --conns 100 --functions 2000
  else
    run "scale" "$BIN/bench_scale" --engine-bin "$ENGINE_BIN" --conns 1000,10000 --functions 100000
  fi
fi

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
export BENCH_ENGINE_BIN=$ENGINE_BIN BENCH_FAMILIES=$ONLY
export BENCH_GIT="$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src sdk 2>/dev/null || echo ' + uncommitted changes in src/ or sdk/')"
RESULT=$OUT/latest.json
((SMOKE)) && RESULT=$WORK/smoke.json   # a smoke run never replaces the real figures
python3 "$ROOT/bench/report.py" "$RAW" "$RESULT" "$LOAD" "$SMOKE" "$SECONDS_EACH" || FAILED=1
((SMOKE)) || cp "$RAW" "$OUT/latest.raw.jsonl"
exit $FAILED
