#!/usr/bin/env bash
# Runs every benchmark of issue 5 side by side with its peer, prints a table and writes
# bench/results/latest.json. Builds nothing: `make bench` does the Release build first.
#
#   bash bench/run.sh            # full run (BENCH_SECONDS per measurement, default 5; < 10 min)
#   bash bench/run.sh --smoke    # every benchmark for ~1 s (checks that they work)
#   BENCH_BUILD_DIR=build bash bench/run.sh   # use another build directory
#   BENCH_ONLY="call http" bash bench/run.sh   # only some families: call payload http state stream queue scale obs cluster
#   BENCH_ENGINE=/path/to/iii bash bench/run.sh  # measure another engine binary
#
# Ratio convention (every row): ratio = ours / peer. The "better" column says whether a higher or
# a lower figure (and so a higher or lower ratio) is better for us.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SMOKE=0
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
SECONDS_EACH=${BENCH_SECONDS:-5}
((SMOKE)) && SECONDS_EACH=1
ONLY=${BENCH_ONLY:-"call payload http state stream queue scale obs cluster"}
BUILD=${BENCH_BUILD_DIR:-build-release}
[[ $BUILD == /* ]] && BIN=$BUILD || BIN=$ROOT/$BUILD
OUT=$ROOT/bench/results
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/iii-bench.XXXXXX)
RAW=$WORK/raw.jsonl
: >"$RAW"

ENGINE_BIN=${BENCH_ENGINE:-$BIN/iii}
[[ -x $ENGINE_BIN ]] || { echo "bench: engine $ENGINE_BIN missing; run 'make bench'" >&2; exit 1; }
for b in bench_call bench_http bench_http_function bench_state bench_stream bench_queue bench_scale; do
  [[ -x $BIN/$b ]] || { echo "bench: $BIN/$b missing; run 'make bench' (Release build into build-release/)" >&2; exit 1; }
done
for t in nats-server redis-server wrk; do
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
  fi
}
has() { [[ " $ONLY " == *" $1 "* ]]; }

S=$SECONDS_EACH
if has call; then  # ours and the peer back to back for each shape, so both see the same machine load
  for shape in "rtt 1" "64 64" "1024 1024"; do
    set -- $shape
    for sys in iii iii-rbac nats; do
      url=$ENGINE_URL pid=$ENGINE_PID; [[ $sys == nats ]] && url=$NATS_URL pid=$NATS_PID
      if [[ $sys == iii-rbac ]]; then
        # The same calls from callers on the RBAC listener (workers on the plain one), right after
        # the plain run so that both see the same machine.
        [[ $1 == 1024 ]] && continue
        run "call $1 iii-rbac" "$BIN/bench_call" --system iii --label iii-rbac --url $ENGINE_URL \
          --caller-url ws://127.0.0.1:$RBAC_PORT --inflight $2 --seconds $S --name call_$1
        continue
      fi
      run "call $1 $sys" "$BIN/bench_call" --system $sys --url $url --inflight $2 --seconds $S --name call_$1 --cpu-pid $pid
    done
  done
fi
if has payload; then
  PS=$S; ((SMOKE)) || PS=$(( S > 3 ? 3 : S ))
  for size in 1024 65536 1000000; do
    for sys in iii nats; do
      url=$ENGINE_URL; [[ $sys == nats ]] && url=$NATS_URL
      run "payload $size $sys" "$BIN/bench_call" --system $sys --url $url --inflight 1 --payload $size --seconds $PS \
        --name payload_$size
    done
  done
fi
if has http; then
  run "http" "$BIN/bench_http" --engine-url $ENGINE_URL --http-url http://127.0.0.1:$HTTP_PORT --connections 1,64 --seconds $S
  # A function that is an HTTP endpoint, called through the engine, vs the same endpoint called
  # directly (same harness, same threads).
  run "http function" "$BIN/bench_http_function" --engine-url $ENGINE_URL --concurrency 1,16 --seconds $S
fi
if has state; then
  run "state iii" "$BIN/bench_state" --system iii --url $ENGINE_URL --concurrency 16 --seconds $((S * 2))
  run "state redis" "$BIN/bench_state" --system redis --redis 127.0.0.1:$REDIS_PORT --concurrency 16 --seconds $((S * 2))
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
  ((STREAM_OK)) && run "stream fan-out iii" "$BIN/bench_stream" --mode fanout --system iii --url $ENGINE_URL \
    --stream-url ws://127.0.0.1:$STREAM_PORT --subscribers $SUBS --window 64 --inflight 64 --seconds $S
  run "stream fan-out nats" "$BIN/bench_stream" --mode fanout --system nats --url $NATS_URL --subscribers $SUBS \
    --window 64 --seconds $S
  ((STREAM_OK)) && run "stream set iii" "$BIN/bench_stream" --mode set --system iii --url $ENGINE_URL \
    --concurrency 16 --seconds $S
  run "stream set redis" "$BIN/bench_stream" --mode set --system redis --redis 127.0.0.1:$REDIS_PORT \
    --concurrency 16 --seconds $S
fi
if has queue; then
  # A separate engine with only the built-in queue (file-based, durable), so the queue worker, which
  # is newer than the rest, cannot disturb the other benchmarks. No peer.
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
    run "queue" "$BIN/bench_queue" --url ws://127.0.0.1:$Q_PORT --producers 16 --seconds $S
  fi
  kill $Q_PID 2>/dev/null
fi
if has obs; then
  # The cost and the memory bounds of iii-observability. Two more engines from the same binary,
  # each with nothing but the observability entry (bench_call only needs the worker socket): one
  # with it on (memory exporter, sampling 1.0, trace archive on as by default, and explicit memory
  # bounds: 100,000 spans / 64 MiB), one with it off. Each shape runs on both back to back; then each
  # engine is driven to OBS_CALLS calls in total (every call answered counts: warm-up, measurement,
  # drain) and its VmRSS is read. The span store's own figures come from engine::traces::list.
  OBS_MAX_SPANS=100000; OBS_MAX_BYTES=$((64 << 20))
  OBS_CALLS=1000000; ((SMOKE)) && OBS_CALLS=50000
  OBS_ON_PORT=$(free_port); OBS_OFF_PORT=$(free_port)
  mkdir -p "$WORK/obs-on" "$WORK/obs-off"
  cat >"$WORK/obs-on/engine.yaml" <<YAML
workers:
  - name: iii-observability
    config:
      enabled: true
      exporter: memory
      sampling_ratio: 1.0
      memory_max_spans: $OBS_MAX_SPANS
      trace_storage: { memory_max_bytes: $OBS_MAX_BYTES }
YAML
  cat >"$WORK/obs-off/engine.yaml" <<YAML
workers:
  - name: iii-observability
    config: { enabled: false }
YAML
  (cd "$WORK/obs-on" && exec "$ENGINE_BIN" --port "$OBS_ON_PORT" --host 127.0.0.1 --config engine.yaml --log-level warn \
    >"$WORK/obs-on/engine.log" 2>&1) &
  OBS_ON_PID=$!; PIDS+=($OBS_ON_PID)
  (cd "$WORK/obs-off" && exec "$ENGINE_BIN" --port "$OBS_OFF_PORT" --host 127.0.0.1 --config engine.yaml --log-level warn \
    >"$WORK/obs-off/engine.log" 2>&1) &
  OBS_OFF_PID=$!; PIDS+=($OBS_OFF_PID)
  wait_port "$OBS_ON_PORT" "engine (observability on)"; wait_port "$OBS_OFF_PORT" "engine (observability off)"
  sleep 1
  vm_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }  # pid, VmRSS|VmHWM
  OBS_IDLE_ON=$(vm_kib $OBS_ON_PID VmRSS); OBS_IDLE_OFF=$(vm_kib $OBS_OFF_PID VmRSS)
  for shape in "rtt 1" "64 64"; do
    set -- $shape
    for side in on off; do
      port=$OBS_ON_PORT pid=$OBS_ON_PID; [[ $side == off ]] && port=$OBS_OFF_PORT pid=$OBS_OFF_PID
      run "obs $1 $side" "$BIN/bench_call" --system iii --label iii-obs-$side --url ws://127.0.0.1:$port \
        --inflight $2 --seconds $S --name obs_$1 --cpu-pid $pid
    done
  done
  obs_calls() {  # label: calls answered by that engine so far (sum of calls_total of its lines)
    python3 -c 'import json, sys
n = 0
for l in open(sys.argv[1]):
    try: d = json.loads(l)
    except ValueError: continue
    if d.get("system") == sys.argv[2] and str(d.get("bench", "")).startswith("obs_"): n += int(d.get("calls_total", 0))
print(n)' "$RAW" "$1"
  }
  # Both engines end at (about) the same count: OBS_CALLS, or more when a short run (--smoke) got
  # past it already.
  OBS_TARGET=$OBS_CALLS
  for side in on off; do
    n=$(( $(obs_calls iii-obs-$side) + 2000 )); (( n > OBS_TARGET )) && OBS_TARGET=$n
  done
  for side in on off; do
    port=$OBS_ON_PORT; [[ $side == off ]] && port=$OBS_OFF_PORT
    left=$(( OBS_TARGET - $(obs_calls iii-obs-$side) ))
    # --seconds caps the run below run()'s 120 s timeout: a slower machine reports fewer calls.
    run "obs fill $side ($left calls)" "$BIN/bench_call" --system iii --label iii-obs-$side \
      --url ws://127.0.0.1:$port --inflight 64 --calls $left --seconds 100 --name obs_fill --obs-stats
  done
  sleep 1  # the span batch (every ~100 ms) and the archive writer (every 200 ms) settle
  for side in on off; do
    pid=$OBS_ON_PID idle=$OBS_IDLE_ON; [[ $side == off ]] && pid=$OBS_OFF_PID idle=$OBS_IDLE_OFF
    calls=$(obs_calls iii-obs-$side); rss=$(vm_kib $pid VmRSS); hwm=$(vm_kib $pid VmHWM)
    disk=$(du -sb "$WORK/obs-$side/data/observability/traces" 2>/dev/null | cut -f1)
    if [[ -z $rss ]]; then
      echo "bench: obs: engine (observability $side) is gone:" >&2; tail -5 "$WORK/obs-$side/engine.log" >&2; FAILED=1
      continue
    fi
    awk -v side="$side" -v calls="$calls" -v rss="$rss" -v hwm="$hwm" -v idle="${idle:-0}" -v spans=$OBS_MAX_SPANS \
      -v bytes=$OBS_MAX_BYTES -v disk="${disk:-0}" 'BEGIN {
      printf "{\"bench\":\"obs_rss\",\"system\":\"iii-obs-%s\",\"calls_total\":%.0f,\"rss_mib\":%.2f,\"hwm_mib\":%.2f,", side, calls, rss / 1024, hwm / 1024
      printf "\"idle_rss_mib\":%.2f,\"memory_max_spans\":%.0f,\"memory_max_bytes\":%.0f,\"archive_disk_bytes\":%.0f}\n", idle / 1024, spans, bytes, disk }' >>"$RAW"
    echo "bench: obs: observability $side: $calls calls, RSS $((rss / 1024)) MiB (peak $((hwm / 1024)), idle $((${idle:-0} / 1024))), trace archive on disk $(( ${disk:-0} >> 20 )) MiB" >&2
  done
  echo "bench: obs: bounds of the 'on' engine: memory_max_spans $OBS_MAX_SPANS, trace_storage.memory_max_bytes $((OBS_MAX_BYTES >> 20)) MiB" >&2
  kill $OBS_ON_PID $OBS_OFF_PID 2>/dev/null
fi
if has cluster; then
  # Several engines on one Redis (docs/architecture.md "Several engines"). Engines A and B: state
  # on the Redis adapter and iii-cluster. Rows: state through the adapter against raw Redis from
  # as many connections as the adapter's pool (8); a call whose worker is on the other engine
  # against one whose worker is on the caller's engine; two engines against one on call
  # throughput. The queue on Redis is compared with the embedded queue on two more engines with
  # nothing else (the Redis one on database 2, so that A and B do not consume its queue).
  mkdir -p "$WORK/cl-a" "$WORK/cl-b" "$WORK/cl-qr" "$WORK/cl-qe"
  R_URL=redis://127.0.0.1:$REDIS_PORT
  for side in a b; do
    cat >"$WORK/cl-$side/engine.yaml" <<YAML
workers:
  - name: state
    config: { adapter: { name: redis, config: { redis_url: "$R_URL" } } }
  - name: iii-cluster
    config: { redis_url: "$R_URL", name: $side }
  - name: iii-observability
    config: $OBS_DEFAULT
YAML
  done
  for side in qr qe; do
    adapter="{name: builtin, config: {store_method: file_based, file_path: $WORK/cl-qe/queue}}"
    [[ $side == qr ]] && adapter="{name: redis, config: {redis_url: \"$R_URL/2\"}}"
    cat >"$WORK/cl-$side/engine.yaml" <<YAML
workers:
  - name: queue
    config:
      adapter: $adapter
      queue_configs:
        bench: {concurrency: 64, max_retries: 1}
  - name: iii-observability
    config: $OBS_DEFAULT
YAML
  done
  declare -A CL_PORT CL_PID
  for side in a b qr qe; do
    CL_PORT[$side]=$(free_port)
    (cd "$WORK/cl-$side" && exec "$ENGINE_BIN" --port "${CL_PORT[$side]}" --host 127.0.0.1 --config engine.yaml \
      --log-level warn >"$WORK/cl-$side/engine.log" 2>&1) &
    CL_PID[$side]=$!; PIDS+=(${CL_PID[$side]})
  done
  for side in a b qr qe; do wait_port "${CL_PORT[$side]}" "cluster engine $side"; done
  A_URL=ws://127.0.0.1:${CL_PORT[a]} B_URL=ws://127.0.0.1:${CL_PORT[b]}
  run "cluster state adapter" "$BIN/bench_state" --system iii --label iii-redis-adapter --url $A_URL \
    --concurrency 8 --seconds $((S * 2))
  run "cluster state raw redis" "$BIN/bench_state" --system redis --label redis-8 --redis 127.0.0.1:$REDIS_PORT \
    --concurrency 8 --seconds $((S * 2))
  for shape in "rtt 1" "64 64"; do
    set -- $shape
    run "cluster call $1 same engine" "$BIN/bench_call" --system iii --label iii-same-engine --url $A_URL \
      --inflight $2 --seconds $S --name cluster_call_$1 --function-prefix bench::same
    run "cluster call $1 cross engine" "$BIN/bench_call" --system iii --label iii-cross-engine --url $B_URL \
      --caller-url $A_URL --inflight $2 --seconds $S --name cluster_call_$1 --function-prefix bench::cross
  done
  # Two runs at once, 64 in flight each: both on A, then one on A and one on B (each engine's
  # callers reach the workers of their own engine, which win over the other's).
  pair() {  # label, url1, url2, prefix1, prefix2
    local label=$1 out1=$WORK/pair1.json out2=$WORK/pair2.json
    echo "bench: cluster pair $label" >&2
    timeout 120 "$BIN/bench_call" --system iii --url $2 --inflight 64 --seconds $S --name pair --function-prefix $4 \
      >"$out1" 2>>"$WORK/err" &
    local p1=$!
    timeout 120 "$BIN/bench_call" --system iii --url $3 --inflight 64 --seconds $S --name pair --function-prefix $5 \
      >"$out2" 2>>"$WORK/err"
    local r2=$? r1=0; wait $p1 || r1=$?
    if ((r1 || r2)); then echo "bench: cluster pair $label FAILED" >&2; tail -5 "$WORK/err" >&2; FAILED=1; return; fi
    python3 - "$out1" "$out2" "$label" >>"$RAW" <<'PY'
import json, sys
a, b = (json.loads([l for l in open(f) if l.startswith("{")][-1]) for f in sys.argv[1:3])
print(json.dumps({"bench": "cluster_scale", "system": sys.argv[3], "calls_per_s": a["calls_per_s"] + b["calls_per_s"],
                  "p99_us": max(a["p99_us"], b["p99_us"])}))
PY
  }
  pair iii-one-engine $A_URL $A_URL bench::one_x bench::one_y
  pair iii-two-engines $A_URL $B_URL bench::spread bench::spread
  run "cluster queue on redis" "$BIN/bench_queue" --url ws://127.0.0.1:${CL_PORT[qr]} --producers 16 --seconds $S \
    --label iii-redis
  run "cluster queue embedded" "$BIN/bench_queue" --url ws://127.0.0.1:${CL_PORT[qe]} --producers 16 --seconds $S \
    --label iii-embedded
  kill ${CL_PID[a]} ${CL_PID[b]} ${CL_PID[qr]} ${CL_PID[qe]} 2>/dev/null
fi
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
