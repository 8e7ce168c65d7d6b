# Sourced by bench/run.sh for the family `obs` (see bench/README.md): uses its WORK, RAW, BIN, S, REPS,
# SMOKE, PIDS, run, free_port, wait_port.
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
  for rep in $(seq $REPS); do  # on, off, on, off, ...: drift hits both
    for side in on off; do
      port=$OBS_ON_PORT pid=$OBS_ON_PID; [[ $side == off ]] && port=$OBS_OFF_PORT pid=$OBS_OFF_PID
      run "obs $1 $side #$rep" "$BIN/bench_call" --system iii --label iii-obs-$side --url ws://127.0.0.1:$port \
        --inflight $2 --seconds $S --name obs_$1 --cpu-pid $pid
    done
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
