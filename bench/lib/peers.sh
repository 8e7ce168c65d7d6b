# Sourced by bench/run.sh: the peers of issue 14 that need a server of their own. Uses run.sh's
# WORK, PIDS, free_port and wait_port.

# nginx as a keep-alive reverse proxy (the peer of the HTTP trigger rows): wrk -> nginx -> upstream
# -> nginx -> wrk crosses three processes, as wrk -> engine -> SDK worker -> engine -> wrk does.
#   start_nginx NAME WORKER_PROCESSES UPSTREAM_PORT   -> sets NGINX_PORT to the port it listens on
# (a variable, not printed: in a $(...) subshell its pid would not reach PIDS, and nginx would
# outlive the run)
# Connections to the upstream are kept alive (upstream keepalive, HTTP/1.1, no Connection header),
# and neither side closes a kept-alive connection after 1,000 requests (nginx's default
# keepalive_requests, which our engine has no counterpart of). No access log (ours keeps none).
start_nginx() {
  local name=$1 workers=$2 up=$3 dir=$WORK/nginx-$1 port
  port=$(free_port); NGINX_PORT=$port
  mkdir -p "$dir"
  local user=""; [[ $(id -u) == 0 ]] && user="user root;"  # workers keep access to $dir
  cat >"$dir/nginx.conf" <<CONF
$user
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  upstream bench_upstream {
    server 127.0.0.1:$up;
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port" "nginx ($name)"
}

# NATS JetStream for the durable-queue rows: a nats-server of its own (the core NATS rows keep
# theirs without JetStream), file storage under $WORK. Sets JS_PORT (see start_nginx: no subshell).
start_jetstream() {
  local port
  port=$(free_port); JS_PORT=$port
  mkdir -p "$WORK/jetstream"
  nats-server -a 127.0.0.1 -p "$port" -js -sd "$WORK/jetstream" >"$WORK/jetstream.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port" "nats-server -js"
}

# The Node rows: bench/node/bench.mjs with the official iii-sdk as worker and caller (separate
# processes) through our engine, and the official NATS Node client as responder and requester
# through nats-server; 1 and 64 calls in flight, the runs interleaved (iii, nats, iii, nats, ...).
# Both workers stay up across the runs.
node_family() {
  local js=$ROOT/bench/node/bench.mjs wi wn
  node "$js" worker --system iii --url "$ENGINE_URL" >"$WORK/node-worker-iii.log" 2>&1 &
  wi=$!; PIDS+=($wi)
  node "$js" worker --system nats --url "127.0.0.1:$NATS_PORT" >"$WORK/node-worker-nats.log" 2>&1 &
  wn=$!; PIDS+=($wn)
  local n rep
  for n in 1 64; do
    for rep in $(seq $REPS); do
      run "node $n iii #$rep" node "$js" caller --system iii --url "$ENGINE_URL" --inflight $n --seconds $S
      run "node $n nats #$rep" node "$js" caller --system nats --url "127.0.0.1:$NATS_PORT" --inflight $n --seconds $S
    done
  done
  kill $wi $wn 2>/dev/null
}
