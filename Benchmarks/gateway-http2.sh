#!/usr/bin/env bash
# The gateway's HTTPS front as kubectl uses it: HTTP/2 over TLS. A 1 KiB JSON GET through
# `bcs serve --roles usermanager,gateway --tls-cert … --tls-key …` (direct mode, auth and permission
# checks on) beside nginx terminating TLS and HTTP/2 in front of the same upstream (proxy_pass to a
# keepalive TLS upstream, buffering off), in one run. The upstream is nginx serving a static file
# over TLS (Benchmarks/lib/tls-upstream.sh).
#
# Rows, each ROUNDS times (default 3) in turn, medians shown: h2load with 32 connections of one
# stream each, h2load with 4 connections of 8 concurrent streams, and wrk (HTTP/1.1 over TLS, 32
# connections) for comparison. CPU per request is the proxy process's CPU time (user + system) over
# the row, divided by the requests it served.
#
# usage: Benchmarks/gateway-http2.sh [REQUESTS per h2load row (default 40000)] [ROUNDS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib/tls-upstream.sh
requests=${1:-40000}
rounds=${2:-3}
scripts/setup
for tool in nginx wrk h2load; do
  command -v $tool >/dev/null || { echo "==> installing nginx-light wrk nghttp2-client" >&2; apt-get install -y -qq nginx-light wrk nghttp2-client >/dev/null; break; }
done
echo "==> building bcs (release)" >&2
swift build -c release --product bcs 2>&1 | grep -E "error|Build complete" >&2 || true
[ -x .build/release/bcs ] || { echo "build failed" >&2; exit 1; }

work=$(mktemp -d)
chmod 755 "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port); ngx=$(free_port); gw=$(free_port); mport=$(free_port)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  nginx -p "$work" -c "$work/nginx-h2.conf" -s stop 2>/dev/null || true
  stop_tls_upstream "$work"; scripts/mongo stop "$mport"; rm -rf "$work" ".run/mongo-$mport"
}
trap cleanup EXIT
start_tls_upstream "$work" "$up"
path=/api/v1/namespaces/default/configmaps/bench

# nginx terminating TLS with HTTP/2 by ALPN, one worker, proxying to the same upstream.
cat > "$work/nginx-h2.conf" <<NGINX
worker_processes 1;
error_log $work/logs/h2-error.log;
pid $work/nginx-h2.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp; uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  # nginx ends an HTTP/2 connection after 1000 requests by default; h2load does not reconnect.
  keepalive_requests 10000000;
  upstream apiserver { server 127.0.0.1:$up; keepalive 64; }
  server {
    listen 127.0.0.1:$ngx ssl http2; ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    location / {
      proxy_pass https://apiserver; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off;
      proxy_ssl_verify on; proxy_ssl_trusted_certificate $work/cert.pem; proxy_ssl_name bench-upstream; proxy_ssl_server_name on; proxy_ssl_session_reuse on;
    }
  }
}
NGINX
nginx -p "$work" -c "$work/nginx-h2.conf"
for _ in $(seq 1 50); do [ -s "$work/nginx-h2.pid" ] && break; sleep 0.1; done
ngxpid=$(pgrep -P "$(cat "$work/nginx-h2.pid")" | head -1)

uri=$(scripts/mongo start "$mport" ".run/mongo-$mport/data")
admin=BenchGatewayAdmin0123456789abcdXY
# In a session of its own, as nginx (a daemon) is: see Benchmarks/gateway-proxy.sh.
BCS_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))') setsid .build/release/bcs serve --roles usermanager,gateway \
  --listen "127.0.0.1:$gw" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --mongodb-uri "$uri" --database bench_gateway_h2 \
  --bootstrap-admin "admin:$admin" --log-level warning & pids+=($!); gwpid=$!
base="https://127.0.0.1:$gw"
for _ in $(seq 1 100); do curl -sf --cacert "$work/cert.pem" "$base/readyz" >/dev/null && break; sleep 0.2; done
api="$base/bcsapi/v4/usermanager/v1"
acurl() { curl -s --cacert "$work/cert.pem" -H "Authorization: Bearer $admin" "$@"; }
acurl -X POST "$api/clusters" -d '{"cluster_id":"BCS-K8S-BENCH","cluster_type":"k8s"}' >/dev/null
token=$(acurl -X POST "$api/clusters/BCS-K8S-BENCH/register_tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
python3 - "$work/cert.pem" "$token" "$up" > "$work/report.json" <<'PY'
import json, sys
print(json.dumps({"register_token": sys.argv[2], "server_addresses": f"https://127.0.0.1:{sys.argv[3]}", "cacert_data": open(sys.argv[1]).read(), "user_token": "bench-sa-token"}))
PY
curl -sf --cacert "$work/cert.pem" -X PUT "$api/clusters/BCS-K8S-BENCH/credentials" --data-binary @"$work/report.json" >/dev/null
gwurl="$base/tunnels/clusters/BCS-K8S-BENCH$path"
ngxurl="https://127.0.0.1:$ngx$path"
for _ in $(seq 1 50); do [ "$(acurl -o /dev/null -w '%{http_code}' "$gwurl")" = 200 ] && break; sleep 0.2; done
[ "$(curl -s --http2 --cacert "$work/cert.pem" -o /dev/null -w '%{http_version} %{http_code}' "$ngxurl")" = "2 200" ] || { echo "nginx HTTP/2 proxy not answering" >&2; exit 1; }
[ "$(acurl --http2 -o /dev/null -w '%{http_version} %{http_code}' "$gwurl")" = "2 200" ] || { echo "gateway HTTP/2 not answering" >&2; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
results="$work/results"
row() { # name pid kind url -> appends "name|rps|us-per-request"
  local name=$1 pid=$2 kind=$3 url=$4 t0 t1 out rps n
  echo "==> $name" >&2
  t0=$(ticks "$pid")
  case $kind in
    h2-32x1) out=$(h2load -n "$requests" -c 32 -m 1 -H "Authorization: Bearer $admin" "$url" 2>&1) ;;
    h2-4x8) out=$(h2load -n "$requests" -c 4 -m 8 -H "Authorization: Bearer $admin" "$url" 2>&1) ;;
    h1) out=$(wrk -t1 -c32 -d5s -H "Authorization: Bearer $admin" "$url" 2>&1) ;;
  esac
  t1=$(ticks "$pid")
  # A rate of error pages is not a result.
  if [ "$kind" = h1 ]; then
    if grep -q "Non-2xx" <<< "$out" || ! grep -q "Requests/sec" <<< "$out"; then echo "$out" >&2; echo "$name: not all 2xx" >&2; exit 1; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<< "$out"); n=$(awk '/requests in/ {print $1}' <<< "$out")
  else
    if ! grep -q "status codes: $requests 2xx" <<< "$out"; then echo "$out" >&2; echo "$name: not all 2xx" >&2; exit 1; fi
    rps=$(awk '/finished in/ {print $4}' <<< "$out"); n=$requests
  fi
  echo "$name|$rps|$(python3 -c "print(($t1 - $t0) / $(getconf CLK_TCK) / $n * 1e6)")" >> "$results"
}
for round in $(seq 1 "$rounds"); do
  echo "==> round $round of $rounds" >&2
  for kind in h2-32x1 h2-4x8 h1; do
    row "nginx, $kind" "$ngxpid" "$kind" "$ngxurl"
    row "bcs gateway, $kind" "$gwpid" "$kind" "$gwurl"
  done
done

echo
echo "1 KiB JSON GET over TLS to the proxy, upstream nginx over TLS (this 2-core machine); h2-CxM = h2load, C connections x M streams; h1 = wrk, 32 connections, HTTP/1.1"
python3 - "$results" "$rounds" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, us = line.strip().split("|")
    rows.setdefault(name, []).append((float(rps), float(us)))
med = statistics.median
print(f"medians of {sys.argv[2]} rounds; each round ran every row in turn")
print(f"{'path':<26} {'req/s':>9} {'CPU us/req':>11}   req/s of each round")
for name, runs in rows.items():
    print(f"{name:<26} {med([r[0] for r in runs]):>9.0f} {med([r[1] for r in runs]):>11.1f}   " + ", ".join(f"{r[0]:.0f}" for r in runs))
for kind in ("h2-32x1", "h2-4x8", "h1"):
    g, n = rows[f"bcs gateway, {kind}"], rows[f"nginx, {kind}"]
    ratios = [a[0] / b[0] for a, b in zip(g, n)]
    print(f"{kind}: gateway / nginx throughput = {med(ratios):.2f} ({', '.join(f'{r:.2f}' for r in ratios)})")
PY
