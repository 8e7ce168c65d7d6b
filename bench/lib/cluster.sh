# Sourced by bench/run.sh for the family `cluster` (see bench/README.md): uses its WORK, RAW, BIN, S,
# REPS, REDIS_PORT, PIDS, run, free_port, wait_port.
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
for rep in $(seq $REPS); do  # ours, peer, ours, peer, ...: drift hits both
  for api in blocking callback raw; do  # each side in its ways, as the family `state`
    run "cluster state adapter $api" "$BIN/bench_state" --system iii --label iii-redis-adapter-$api --api $api \
      --url $A_URL --concurrency 8 --seconds $((S * 2))
  done
  for api in blocking loop; do
    run "cluster state raw redis $api" "$BIN/bench_state" --system redis --label redis-8-$api --api $api \
      --redis 127.0.0.1:$REDIS_PORT --concurrency 8 --seconds $((S * 2))
  done
  for shape in "rtt 1" "64 64"; do
    set -- $shape
    run "cluster call $1 same engine" "$BIN/bench_call" --system iii --label iii-same-engine --url $A_URL \
      --inflight $2 --seconds $S --name cluster_call_$1 --function-prefix bench::same
    run "cluster call $1 cross engine" "$BIN/bench_call" --system iii --label iii-cross-engine --url $B_URL \
      --caller-url $A_URL --inflight $2 --seconds $S --name cluster_call_$1 --function-prefix bench::cross
  done
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
for rep in $(seq $REPS); do
  pair iii-one-engine $A_URL $A_URL bench::one_x bench::one_y
  pair iii-two-engines $A_URL $B_URL bench::spread bench::spread
done
for rep in $(seq $REPS); do
  run "cluster queue on redis #$rep" "$BIN/bench_queue" --url ws://127.0.0.1:${CL_PORT[qr]} --producers 16 \
    --seconds $S --label iii-redis
  run "cluster queue embedded #$rep" "$BIN/bench_queue" --url ws://127.0.0.1:${CL_PORT[qe]} --producers 16 \
    --seconds $S --label iii-embedded
done
kill ${CL_PID[a]} ${CL_PID[b]} ${CL_PID[qr]} ${CL_PID[qe]} 2>/dev/null
