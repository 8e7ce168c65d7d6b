#!/usr/bin/env python3
"""Turns the benchmark programs' JSON lines into the side-by-side table and latest.json.

usage: report.py RAW.jsonl OUT.json "LOADAVG" SMOKE SECONDS

Every figure is the median of the runs of its measurement (three in a full run, interleaved with
the peer's), with min and max kept (ours_min/ours_max, peer_min/peer_max) and shown in the table.

Ratio convention, on every row: ratio = ours / peer (of the medians). `better` says whether a higher or a lower
figure is better for us, so ratio > 1 is a win on "higher" rows and ratio < 1 is a win on "lower" rows.
"""
import json, os, platform, statistics, subprocess, sys, time

raw, out_path, load, smoke, seconds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5]
lines = []
for l in open(raw):
    l = l.strip()
    if l.startswith("{"):
        try:
            lines.append(json.loads(l))
        except json.JSONDecodeError:
            pass


def find(bench, system):
    for l in lines:
        if l.get("bench") == bench and l.get("system") == system:
            return l
    return None


def samples(bench, system, field, scale):
    return [l[field] * scale for l in lines
            if l.get("bench") == bench and l.get("system") == system and isinstance(l.get(field), (int, float))]


rows = []


def row(name, bench, ours_sys, peer_sys, peer_name, field, unit, better, scale=1.0, target=None):
    """One row. Every figure is the median of the runs of that (bench, system) (three in a full run),
    with their min and max. peer_sys is a system, or a list of (system, setting) for a peer run with
    several settings: the row reports the setting whose median is best for the peer on this row
    (higher or lower as `better` says) and names it in peer_setting; peer_settings has them all.
    ours_sys may be such a list too (ours_setting, ours_settings): the same rule for both sides."""
    def stat(system):
        v = samples(bench, system, field, scale) if system else []
        return (statistics.median(v), min(v), max(v), len(v)) if v else None

    def best(systems):  # (stat, setting, {setting: median}) of a system or a list of them
        if not isinstance(systems, list):
            return stat(systems), None, None
        settings = {label: stat(system) for system, label in systems}
        have = [(v, label) for label, v in settings.items() if v]
        chosen = (max if better == "higher" else min)(have, key=lambda x: x[0][0]) if have else (None, None)
        return chosen[0], chosen[1], {label: v and v[0] for label, v in settings.items()}
    o, ours_setting, ours_settings = best(ours_sys)
    p, setting, settings = best(peer_sys)
    r = {"name": name, "bench": bench}
    ours, peer = (o[0] if o else None), (p[0] if p else None)
    ratio = ours / peer if ours is not None and peer not in (None, 0) else None
    r.update({"ours": ours, "ours_min": o and o[1], "ours_max": o and o[2], "ours_runs": o[3] if o else 0,
              "peer": peer, "peer_min": p and p[1], "peer_max": p and p[2], "peer_runs": p[3] if p else 0,
              "peer_name": peer_name, "unit": unit, "ratio": ratio, "better": better})
    if settings is not None:
        r["peer_setting"] = setting
        r["peer_settings"] = settings
    if ours_settings is not None:
        r["ours_setting"] = ours_setting
        r["ours_settings"] = ours_settings
    if target:
        kind, limit, text = target
        value = ratio if kind == "ratio" else ours
        r["target"] = text
        if value is not None:
            r["target_met"] = value <= limit if better == "lower" else value >= limit
    rows.append(r)


N = "nats"
# libnats run with SendAsap (a write per publish) and with its default write batching (a flusher
# that waits about 1 ms): every NATS row reports the better of the two and names it.
NB = [("nats-asap", "SendAsap"), ("nats-batch", "default batching")]
# Under load both sides also run with callers that wait in another way: ours with trigger_then
# callbacks instead of futures (and echo handlers inline on the SDK's I/O thread, which libnats has
# no counterpart of: its handlers always run on a delivery thread), libnats with asynchronous
# subscriptions instead of NextMsg. Ours also with the SDK's raw forms (register_raw_function,
# trigger_raw_then: JSON text in and out, no DOM, as libnats hands over bytes). The best of each
# side is reported and named (ours_setting / peer_setting).
OURS_API = [("iii", "futures, pool handlers"), ("iii-callback", "callbacks, inline handlers"),
            ("iii-raw", "callbacks, inline raw handlers")]
NB_API = NB + [("nats-async-asap", "async subscription, SendAsap"),
               ("nats-async-batch", "async subscription, default batching")]
row("call round trip p50 (1 in flight)", "call_rtt", "iii", NB, N, "p50_us", "us", "lower",
    target=("ratio", 1.0, "<= NATS"))
row("call round trip p99 (1 in flight)", "call_rtt", "iii", NB, N, "p99_us", "us", "lower")
row("call round trip p99.9 (1 in flight)", "call_rtt", "iii", NB, N, "p999_us", "us", "lower")
row("call round trips/s (1 in flight)", "call_rtt", "iii", NB, N, "calls_per_s", "calls/s", "higher")
for n in (64, 1024):
    row(f"call throughput ({n} in flight)", f"call_{n}", OURS_API, NB_API, N, "calls_per_s", "calls/s", "higher",
        target=("ratio", 1.0, ">= NATS"))
    row(f"call p99 ({n} in flight)", f"call_{n}", OURS_API, NB_API, N, "p99_us", "us", "lower",
        target=("ratio", 1.0, "<= NATS") if n == 1024 else None)
P = "plain listener"
row("RBAC listener: round trip p50 (1 in flight)", "call_rtt", "iii-rbac", "iii", P, "p50_us", "us", "lower",
    target=("ratio", 1.1, "<= 1.1 x plain"))
row("RBAC listener: calls/s (64 in flight)", "call_64", "iii-rbac", "iii", P, "calls_per_s", "calls/s", "higher",
    target=("ratio", 0.9, ">= 0.9 x plain"))
for n in (64, 1024):  # the client library's own CPU: the SDK's calling and serving sides, libnats'
    row(f"client CPU per 100k calls ({n} in flight)", f"call_{n}", OURS_API, NB_API, N, "client_cpu_ms_per_100k",
        "ms CPU", "lower")
row("server CPU per 100k calls (64 in flight)", "call_64", "iii", NB, N, "server_cpu_ms_per_100k", "ms CPU",
    "lower")
# Payloads: ours as JSON values (the SDK's DOM API: the worker gets and returns a json::value) and
# as JSON text (register_raw_function / trigger_raw_then: the bytes are handed over, as libnats
# does), the better reported and named.
OURS_PAYLOAD = [("iii", "futures, pool handlers, JSON values"), ("iii-raw", "callbacks, inline raw handlers")]
for size, label in ((1024, "1 KB"), (65536, "64 KB"), (1000000, "1 MB")):
    row(f"payload {label} round trip (1 in flight)", f"payload_{size}", OURS_PAYLOAD, NB, N, "bytes_per_s", "MB/s",
        "higher", scale=1e-6, target=("ratio", 1.0, ">= NATS") if size > 1024 else None)
    row(f"payload {label} round trip p50", f"payload_{size}", OURS_PAYLOAD, NB, N, "p50_us", "us", "lower")
# The floor (a server answering in the thread that read the request) is a reference, no target;
# the peer of the same shape is nginx as a keep-alive reverse proxy to a process answering the same
# body, run with worker_processes 1 and auto, the better reported.
F = "direct HTTP floor (reference)"
NG = "nginx reverse proxy"
NGS = [("nginx-1", "worker_processes 1"), ("nginx-auto", "worker_processes auto")]
# Ours with the SDK worker's handler on its pool (the default), inline on its I/O thread
# (FunctionOptions::run_inline, as the upstream answers on the thread that read), and inline on
# JSON text (register_raw_function, as the upstream writes a fixed answer): the best named.
HTTP_OURS = [("iii", "pool handler"), ("iii-inline", "inline handler"), ("iii-raw", "inline raw handler")]
for c in (1, 64):
    row(f"HTTP trigger POST, {c} conn", f"http_c{c}", "iii", "floor", F, "req_per_s", "req/s", "higher")
    row(f"HTTP trigger POST p99, {c} conn", f"http_c{c}", "iii", "floor", F, "p99_us", "us", "lower")
    row(f"HTTP trigger POST vs proxy, {c} conn", f"http_c{c}", HTTP_OURS, NGS, NG, "req_per_s", "req/s", "higher",
        target=("ratio", 1.0, ">= nginx"))
    row(f"HTTP trigger POST p99 vs proxy, {c} conn", f"http_c{c}", HTTP_OURS, NGS, NG, "p99_us", "us", "lower",
        target=("ratio", 1.0, "<= nginx"))
D = "the endpoint called directly"
for c in (1, 16):
    row(f"HTTP-invoked function calls/s ({c} in flight)", f"http_function_c{c}", "iii", "direct", D, "ops_per_s",
        "calls/s", "higher")
    row(f"HTTP-invoked function p99 ({c} in flight)", f"http_function_c{c}", "iii", "direct", D, "p99_us", "us",
        "lower")
# State: 16 operations in flight, each side in its ways (bench_state --api), the best named. Ours
# also with the SDK's raw forms (requests and answers as JSON text), as hiredis sends bytes.
R = "redis (hiredis, 16 conns)"
STATE_OURS = [("iii-blocking", "16 blocking threads"), ("iii-callback", "16 trigger_then chains"),
              ("iii-raw", "16 trigger_raw_then chains")]
STATE_REDIS = [("redis-blocking", "16 blocking threads"), ("redis-loop", "one thread, poll()")]
for op in ("set", "get"):
    row(f"state::{op} (16 in flight)", f"state_{op}", STATE_OURS, STATE_REDIS, R, "ops_per_s", "ops/s", "higher",
        target=("ratio", 1.0, ">= Redis"))
    row(f"state::{op} p99 (16 in flight)", f"state_{op}", STATE_OURS, STATE_REDIS, R, "p99_us", "us", "lower")
# Streams: A fan-out (one writer, N sockets on one group, window 64; deliveries summed over the
# sockets), B stream::set throughput against Redis HSET + PUBLISH pipelined.
fo = find("stream_fanout", "iii") or find("stream_fanout", "nats-batch")
subs = int(fo["subscribers"]) if fo and fo.get("subscribers") else 1000
NS = f"nats ({subs} subscriptions)"
row(f"stream fan-out events/s ({subs} subscribers)", "stream_fanout", "iii", NB, NS, "deliveries_per_s",
    "events/s", "higher", target=("ratio", 1.0, ">= NATS"))
row("stream fan-out write -> receive p50", "stream_fanout", "iii", NB, NS, "p50_us", "us", "lower")
row("stream fan-out write -> receive p99", "stream_fanout", "iii", NB, NS, "p99_us", "us", "lower",
    target=("ratio", 2.0, "<= 2 x NATS"))
RS = "redis (HSET+PUBLISH x16)"
row("stream::set (16 in flight)", "stream_set", "iii", "redis", RS, "ops_per_s", "ops/s", "higher")
row("stream::set p50 (16 in flight)", "stream_set", "iii", "redis", RS, "p50_us", "us", "lower")
row("stream::set p99 (16 in flight)", "stream_set", "iii", "redis", RS, "p99_us", "us", "lower")
# The durable queue against NATS JetStream (file storage, a durable pull consumer with explicit
# acks, 16 producers on one connection), its publishers with and without SendAsap.
JS = "nats jetstream (file storage, pull consumer)"
JSS = [("jetstream-asap", "SendAsap"), ("jetstream-batch", "default batching")]
row("queue: durable enqueue -> delivered+acked", "queue", "iii", JSS, JS, "msgs_per_s", "msgs/s", "higher",
    target=("ratio", 1.0, ">= JetStream"))
row("queue: enqueue -> delivered p50", "queue", "iii", JSS, JS, "p50_us", "us", "lower")
row("queue: enqueue -> delivered p99", "queue", "iii", JSS, JS, "p99_us", "us", "lower",
    target=("ratio", 1.0, "<= JetStream"))
# What users see from Node: the official iii-sdk on both ends against the official NATS Node
# client's request/reply, same shape, same payload.
NN = "nats node client (@nats-io/transport-node)"
for n in (1, 64):
    row(f"node iii-sdk calls/s ({n} in flight)", f"node_c{n}", "node-iii", "node-nats", NN, "calls_per_s", "calls/s",
        "higher", target=("ratio", 1.0, ">= NATS Node client"))
    row(f"node iii-sdk p99 ({n} in flight)", f"node_c{n}", "node-iii", "node-nats", NN, "p99_us", "us", "lower")
RA = "raw Redis, 8 connections"
ADAPTER = [("iii-redis-adapter-blocking", "8 blocking threads"), ("iii-redis-adapter-callback", "8 trigger_then chains"),
           ("iii-redis-adapter-raw", "8 trigger_raw_then chains")]
RAW8 = [("redis-8-blocking", "8 blocking threads"), ("redis-8-loop", "one thread, poll()")]
for op in ("set", "get"):
    row(f"cluster: state::{op} via the Redis adapter (8 in flight)", f"state_{op}", ADAPTER, RAW8, RA,
        "ops_per_s", "ops/s", "higher", target=("ratio", 0.67, ">= 0.67 x raw Redis"))
SE = "same-engine call"
row("cluster: cross-engine call round trip p50", "cluster_call_rtt", "iii-cross-engine", "iii-same-engine", SE,
    "p50_us", "us", "lower", target=("ratio", 1.5, "<= 1.5 x same engine"))
row("cluster: cross-engine call round trip p99", "cluster_call_rtt", "iii-cross-engine", "iii-same-engine", SE,
    "p99_us", "us", "lower")
row("cluster: cross-engine calls/s (64 in flight)", "cluster_call_64", "iii-cross-engine", "iii-same-engine", SE,
    "calls_per_s", "calls/s", "higher", target=("ratio", 0.7, ">= 0.7 x same engine"))
row("cluster: two engines vs one, calls/s (2 x 64 in flight)", "cluster_scale", "iii-two-engines", "iii-one-engine",
    "one engine, same load", "calls_per_s", "calls/s", "higher")
EQ = "embedded queue (SQLite file)"
row("cluster: queue on Redis, enqueue -> delivered+acked", "queue", "iii-redis", "iii-embedded", EQ, "msgs_per_s",
    "msgs/s", "higher")
row("cluster: queue on Redis, enqueue -> delivered p99", "queue", "iii-redis", "iii-embedded", EQ, "p99_us", "us",
    "lower")
row("start-up to listening", "scale_startup", "iii", "nats", N, "value", "ms", "lower")
row("RSS idle", "scale_idle_rss", "iii", "nats", N, "value", "MiB", "lower", target=("abs", 20, "< 20 MiB"))
for n in (100, 1000, 10000):
    if find(f"scale_conn_{n}", "iii") or find(f"scale_conn_{n}", "nats"):
        row(f"RSS per idle connection ({n} open)", f"scale_conn_{n}", "iii", "nats", N, "value", "bytes/conn",
            "lower", target=("abs", 10240, "< 10 KB"))
        row(f"RSS with {n} idle connections", f"scale_rss_{n}_conns", "iii", "nats", N, "value", "MiB", "lower")
row("RSS with 100k functions (NATS: 100k subs)", "scale_rss_100k_functions", "iii", "nats", N, "value", "MiB",
    "lower")
row("bytes per registered function", "scale_function_bytes", "iii", "nats", N, "value", "bytes", "lower")
row("time to register 100k functions", "scale_register_100k", "iii", "nats", N, "value", "s", "lower")
# Observability (family obs): the same binary with iii-observability on (memory exporter, sampling
# 1.0, trace archive on, bounds 100,000 spans / 64 MiB) against off, back to back; then each engine
# driven to 1M calls and its RSS read. Peer = the engine with observability off, or the configured bound.
OFF = "observability off"
row("obs on: call throughput (64 in flight)", "obs_64", "iii-obs-on", "iii-obs-off", OFF, "calls_per_s", "calls/s",
    "higher", target=("ratio", 0.9, ">= 0.9 x off"))
row("obs on: call p99 (64 in flight)", "obs_64", "iii-obs-on", "iii-obs-off", OFF, "p99_us", "us", "lower")
row("obs on: server CPU per 100k calls (64 in flight)", "obs_64", "iii-obs-on", "iii-obs-off", OFF,
    "server_cpu_ms_per_100k", "ms CPU", "lower")
row("obs on: round trip p50 (1 in flight)", "obs_rtt", "iii-obs-on", "iii-obs-off", OFF, "p50_us", "us", "lower")
rss_on, rss_off, fill = find("obs_rss", "iii-obs-on"), find("obs_rss", "iii-obs-off"), find("obs_fill", "iii-obs-on")


def calls_label(line):
    n = line.get("calls_total") if line else None
    return f"{n / 1e6:.2f}M" if n and n >= 1e5 else f"{n:,}" if n else "N"


if rss_on or rss_off or fill:
    c = calls_label(rss_on)
    bound_mib = rss_on["memory_max_bytes"] / 2**20 if rss_on else None
    row(f"obs on: RSS after {c} calls", "obs_rss", "iii-obs-on", "iii-obs-off", "obs off, same calls", "rss_mib", "MiB",
        "lower")
    r = rows[-1]
    r["calls"] = {"on": rss_on and rss_on.get("calls_total"), "off": rss_off and rss_off.get("calls_total")}
    r["idle_rss_mib"] = {"on": rss_on and rss_on.get("idle_rss_mib"), "off": rss_off and rss_off.get("idle_rss_mib")}
    if bound_mib is not None:
        # What observability may keep is its span store (memory_max_bytes); everything else an engine
        # holds after the same calls is in the "off" figure.
        r["bound_mib"] = bound_mib
        r["target"] = f"<= off + {bound_mib:.0f} MiB bound"
        if r["ours"] is not None and r["peer"] is not None:
            r["target_met"] = r["ours"] <= r["peer"] + bound_mib
    row(f"obs on: peak RSS (VmHWM) during {c} calls", "obs_rss", "iii-obs-on", "iii-obs-off", "obs off, same calls",
        "hwm_mib", "MiB", "lower")

    def bound_row(name, ours, bound, unit, peer_name):
        ratio = ours / bound if ours is not None and bound else None
        r = {"name": name, "bench": "obs_fill", "ours": ours, "peer": bound, "peer_name": peer_name, "unit": unit,
             "ratio": ratio, "better": "lower", "target": "<= bound"}
        if ratio is not None:
            r["target_met"] = ratio <= 1.0
        rows.append(r)

    get = lambda line, k: line.get(k) if line else None
    store = get(fill, "obs_memory_bytes")
    bound_row(f"obs on: span store bytes after {c} calls", store / 2**20 if store is not None else None, bound_mib,
              "MiB", "memory_max_bytes (config)")
    bound_row(f"obs on: spans in memory after {c} calls", get(fill, "obs_memory_spans"),
              get(rss_on, "memory_max_spans"), "spans", "memory_max_spans (config)")


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


cpu = ""
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
except OSError:
    pass
meta = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host_cpu": cpu, "cores": os.cpu_count(),
        "kernel": platform.release(), "loadavg_at_end": load, "seconds_per_measurement": float(seconds),
        "smoke": smoke, "engine_binary": os.environ.get("BENCH_ENGINE_BIN", ""),
        "engine_git": os.environ.get("BENCH_GIT", ""), "ratio_convention": "ratio = ours / peer; 'better' tells whether higher or lower is better"}

print()
print(f"iii benchmarks  ({meta['date']}, {cpu}, {os.cpu_count()} cores, load {load}, {seconds}s each"
      f"{', SMOKE' if smoke else ''})")
print(f"engine: {meta['engine_binary']} (git {meta['engine_git']})")
print("ratio = ours / peer on every row; 'better' = which direction of the figure (and ratio) is better for us")
W = max([44] + [len(r["name"]) for r in rows])


def span(r, side):  # "min-max" of the runs, when there was more than one
    lo, hi = r.get(side + "_min"), r.get(side + "_max")
    return f"{fmt(lo)}-{fmt(hi)}" if r.get(side + "_runs", 0) > 1 else ""


hdr = (f"{'benchmark':{W}} {'ours':>10} {'(min-max)':>17} {'peer':>10} {'(min-max)':>17} {'unit':>10} {'ratio':>6} "
       f"{'better':>6}  {'peer [setting that won]':60} target")
print(hdr)
print("-" * len(hdr))
for r in rows:
    t = ""
    if "target" in r:
        t = r["target"] + (" MET" if r.get("target_met") else " MISSED" if "target_met" in r else "")
    ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
    peer = r["peer_name"] + (f" [{r['peer_setting']}]" if r.get("peer_setting") else "")
    if r.get("ours_setting"):
        peer = f"ours [{r['ours_setting']}] vs {peer}"
    print(f"{r['name']:{W}} {fmt(r['ours']):>10} {span(r, 'ours'):>17} {fmt(r['peer']):>10} {span(r, 'peer'):>17} "
          f"{r['unit']:>10} {ratio:>6} {r['better']:>6}  {peer:60} {t}")
with open(out_path, "w") as f:
    json.dump({"run": meta, "benchmarks": rows}, f, indent=1)
    f.write("\n")
print(f"\nwritten: {out_path}")

# A smoke run checks that every benchmark of the families it ran produced its figures (ours, and
# the peer's where there is one).
FAMILY = (("call_", "call"), ("payload_", "payload"), ("http_", "http"), ("state_", "state"),
          ("stream_", "stream"), ("queue", "queue"), ("scale_", "scale"), ("obs_", "obs"), ("node_", "node"))
if smoke:
    ran = os.environ.get("BENCH_FAMILIES", "").split()
    missing = []
    for r in rows:
        family = next((f for prefix, f in FAMILY if r["bench"].startswith(prefix)), None)
        if r["name"].startswith("cluster:"):  # the cluster family reuses other families' bench names
            family = "cluster"
        if family not in ran:
            continue
        if r["ours"] is None or (r["peer_name"] != "(none)" and r["peer"] is None):
            missing.append(r["name"])
    if missing:
        print("smoke: no figure for: " + "; ".join(missing), file=sys.stderr)
        sys.exit(1)
sys.exit(0)
