#!/usr/bin/env bash
# Gateway proxy benchmark: a 1 KiB JSON GET through `bcs serve --roles usermanager,gateway`
# (/tunnels/clusters/{id}/…, direct mode, TLS to the upstream verified against the reported CA),
# beside the same request sent straight to the upstream, through nginx (proxy_pass to a keepalive
# TLS upstream, buffering off) and through `kubectl proxy`, all in one run. The upstream is nginx
# serving a static file over TLS. Load: wrk, 1 thread, 32 connections, keep-alive.
#
# Every row runs ROUNDS times (default 3), the rows in turn, and the table shows medians (this
# machine's speed drifts within minutes). Then: the gateway's and nginx's added p99 over the
# upstream at half of the upstream's peak rate (held constant by wrk's Lua), in rounds too;
# 100 MiB downloads (median of three); direct against tunnel mode again with the cores split as
# between two machines (core 0: the clients and the gateway; core 1: the upstream and the agent);
# the proxy alone on a core of its own, as deployed (a second, one-loop gateway process beside nginx's
# one-worker proxy on core 0; wrk and the upstream on core 1), at full rate and at half of the
# upstream's peak there; and the gateway's RSS with WATCHES (default 1000) concurrent idle watches
# through it to a `bcs kube-sim` cluster.
#
# usage: Benchmarks/gateway-proxy.sh [SECONDS (default 8)] [CONNECTIONS (default 32)] [WATCHES (default 1000)]
#        ROUNDS=5 Benchmarks/gateway-proxy.sh ...                  (more rounds)
#        PERF_OUT=/tmp/gw.perf Benchmarks/gateway-proxy.sh ...   (also records a CPU profile of the first gateway row)
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib/tls-upstream.sh
seconds=${1:-8}
conns=${2:-32}
watches=${3:-1000}
scripts/setup
for tool in nginx wrk kubectl; do
  command -v $tool >/dev/null || { echo "==> installing nginx-light wrk" >&2; apt-get install -y -qq nginx-light wrk >/dev/null; break; }
done

echo "==> building bcs (release)" >&2
swift build -c release --product bcs 2>&1 | grep -E "error|Build complete" >&2 || true
[ -x .build/release/bcs ] || { echo "build failed" >&2; exit 1; }

work=$(mktemp -d)
chmod 755 "$work"  # nginx workers run as nobody when started by root: a 0700 dir would make every response a 403
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port); ngx=$(free_port); kp=$(free_port); gw=$(free_port); mport=$(free_port)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; stop_tls_upstream "$work"; scripts/mongo stop "$mport"; rm -rf "$work" ".run/mongo-$mport"
  [ -d "/sys/fs/cgroup/cpu/bcs-bench-$$" ] && { sleep 0.5; rmdir "/sys/fs/cgroup/cpu/bcs-bench-$$" 2>/dev/null || true; }
}
trap cleanup EXIT

# The 100 MiB file goes in before nginx starts serving the directory.
mkdir -p "$work/www/api/v1/namespaces/default/configmaps"
head -c $((100 << 20)) /dev/urandom > "$work/www/api/v1/namespaces/default/configmaps/big"
start_tls_upstream "$work" "$up" "$ngx"
path=/api/v1/namespaces/default/configmaps/bench

# Each proxy runs in a session of its own, as nginx (a daemon) does: with the kernel's autogroup
# scheduling, a process left in this script's session shares one CPU share with wrk.
setsid kubectl proxy --kubeconfig "$work/kubeconfig" --port "$kp" >/dev/null 2>&1 & pids+=($!)

uri=$(scripts/mongo start "$mport" ".run/mongo-$mport/data")
admin=BenchGatewayAdmin0123456789abcdXY
secret_key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
BCS_SECRET_KEY=$secret_key setsid .build/release/bcs serve --roles usermanager,gateway \
  --listen "127.0.0.1:$gw" --mongodb-uri "$uri" --database bench_gateway --bootstrap-admin "admin:$admin" --log-level warning & pids+=($!); gwpid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$gw/readyz" >/dev/null && break; sleep 0.2; done
api="http://127.0.0.1:$gw/bcsapi/v4/usermanager/v1"
for _ in $(seq 1 50); do curl -sf -X POST -H "Authorization: Bearer $admin" "$api/clusters" -d '{"cluster_id":"BCS-K8S-BENCH","cluster_type":"k8s"}' >/dev/null && break; sleep 0.2; done
token=$(curl -s -X POST -H "Authorization: Bearer $admin" "$api/clusters/BCS-K8S-BENCH/register_tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
python3 - "$work/cert.pem" "$token" "$up" > "$work/report.json" <<'PY'
import json, sys
print(json.dumps({"register_token": sys.argv[2], "server_addresses": f"https://127.0.0.1:{sys.argv[3]}", "cacert_data": open(sys.argv[1]).read(), "user_token": "bench-sa-token"}))
PY
curl -sf -X PUT "$api/clusters/BCS-K8S-BENCH/credentials" --data-binary @"$work/report.json" >/dev/null
for _ in $(seq 1 50); do curl -sf -H "Authorization: Bearer $admin" "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-BENCH$path" >/dev/null && break; sleep 0.2; done
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$kp$path" >/dev/null && break; sleep 0.2; done

# A third cluster reached only through an agent tunnel: `bcs kube-agent --use-websocket` whose
# "apiserver" (its --kubeconfig) is the same nginx upstream.
curl -sf -X POST -H "Authorization: Bearer $admin" "$api/clusters" -d '{"cluster_id":"BCS-K8S-TUNNEL","cluster_type":"k8s"}' >/dev/null
ttoken=$(curl -s -X POST -H "Authorization: Bearer $admin" "$api/clusters/BCS-K8S-TUNNEL/register_tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
REGISTER_TOKEN=$ttoken setsid .build/release/bcs kube-agent --bke-address "http://127.0.0.1:$gw" --cluster-id BCS-K8S-TUNNEL --use-websocket \
  --kubeconfig "$work/kubeconfig" --listen-addr 127.0.0.1:0 > "$work/agent.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do curl -sf -H "Authorization: Bearer $admin" "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-TUNNEL$path" >/dev/null && break; sleep 0.2; done

results="$work/results"
pin=()  # a `taskset` prefix for the clients, in the split-cores rows
run() { # name url [wrk args] -> appends "name|rps|p50|p99" to $results
  local name=$1 url=$2; shift 2
  echo "==> $name" >&2
  # PERF_OUT=file: a CPU profile of the gateway while it serves its first direct-mode row.
  if [ -n "${PERF_OUT:-}" ] && [ "$name" = "bcs gateway (ours)" ] && [ ! -e "$PERF_OUT" ]; then
    perf record -F 499 -g -o "$PERF_OUT" -p "$gwpid" -- sleep $((seconds - 1)) >/dev/null 2>&1 &
  fi
  "${pin[@]}" wrk -t1 -c"$conns" -d"${seconds}s" --latency "$@" "$url" > "$work/wrk.txt"
  # A rate of error pages is not a result: stop and show what answered.
  if grep -q "Non-2xx" "$work/wrk.txt" || ! grep -q "Requests/sec" "$work/wrk.txt"; then
    cat "$work/wrk.txt" >&2; curl -sk -H "Authorization: Bearer $admin" "$url" | head -c 300 >&2; echo >&2
    echo "$name: some responses were not 2xx; no numbers reported" >&2; exit 1
  fi
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/wrk.txt"); p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
  echo "$name|$rps|$p50|$p99" >> "$results"
}
apid=$(pgrep -f "bcs kube-agent --bke-address http://127.0.0.1:$gw" | head -1)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Busy time of all cores (user, nice, system, irq, softirq, steal), in the same ticks.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
requests() { awk '/requests in/ {print $1}' "$work/wrk.txt"; }
# CPU per process while the gateway's rows run (100% = one core): the tunnel row has two proxies in
# series. And the whole machine's CPU per request in each mode: wrk, the upstream and the proxies
# share two cores, so the tunnel's rate is bounded by how much more CPU its requests take here.
gw_ticks=0; gw_secs=0; gw_busy=0; gw_reqs=0; tgw_ticks=0; tag_ticks=0; t_secs=0; t_busy=0; t_reqs=0
gateway_row() {
  local g0 b0 t0 g1 b1 t1
  g0=$(ticks "$gwpid"); b0=$(busy); t0=$(date +%s.%N)
  run "bcs gateway (ours)" "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-BENCH$path" -H "Authorization: Bearer $admin"
  g1=$(ticks "$gwpid"); b1=$(busy); t1=$(date +%s.%N)
  gw_ticks=$((gw_ticks + g1 - g0)); gw_busy=$((gw_busy + b1 - b0)); gw_reqs=$((gw_reqs + $(requests)))
  gw_secs=$(python3 -c "print($gw_secs + $t1 - $t0)")
}
tunnel_row() {
  local g0 a0 b0 t0 g1 a1 b1 t1
  g0=$(ticks "$gwpid"); a0=$(ticks "$apid"); b0=$(busy); t0=$(date +%s.%N)
  run "bcs gateway, tunnel mode" "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-TUNNEL$path" -H "Authorization: Bearer $admin"
  g1=$(ticks "$gwpid"); a1=$(ticks "$apid"); b1=$(busy); t1=$(date +%s.%N)
  tgw_ticks=$((tgw_ticks + g1 - g0)); tag_ticks=$((tag_ticks + a1 - a0)); t_busy=$((t_busy + b1 - b0)); t_reqs=$((t_reqs + $(requests)))
  t_secs=$(python3 -c "print($t_secs + $t1 - $t0)")
}

# This machine's speed drifts by 15-30% within minutes, so one run of each row would compare
# different machines. ROUNDS rounds (default 3) run every row in turn; the table shows each row's
# median and the ratios are medians of each round's ratio (rows of a round ran seconds apart).
rounds=${ROUNDS:-3}
# The agent opens a second tunnel session after a second of load (TunnelScaling): the rows measure a
# busy cluster's tunnel, so they start with it already open.
wrk -t1 -c"$conns" -d3s -H "Authorization: Bearer $admin" "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-TUNNEL$path" >/dev/null
for round in $(seq 1 "$rounds"); do
  echo "==> round $round of $rounds" >&2
  run "upstream directly (TLS)" "https://127.0.0.1:$up$path"
  run "nginx proxy_pass" "http://127.0.0.1:$ngx$path"
  run "kubectl proxy" "http://127.0.0.1:$kp$path"
  gateway_row
  tunnel_row
done

# Half of the upstream's peak rate, held constant by wrk's Lua (Benchmarks/lib/constant-rate.lua), so
# every row runs at the same load. nginx beside the gateway shows what a mature proxy adds there.
median_of() { awk -F'|' -v n="$1" '$1==n {print $2}' "$results" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
half_rate=$(python3 -c "print(round($(median_of "upstream directly (TLS)") / 2))")
sed "s/RATE/$half_rate/" Benchmarks/lib/constant-rate.lua > "$work/half.lua"
half_peak_rounds() { # row-name prefix, wrk Lua script, gateway port
  for round in $(seq 1 "$rounds"); do
    echo "==> ${1}half-peak round $round of $rounds ($2)" >&2
    run "${1}upstream at half peak" "https://127.0.0.1:$up$path" -s "$2"
    run "${1}nginx at half peak" "http://127.0.0.1:$ngx$path" -s "$2"
    run "${1}gateway at half peak" "http://127.0.0.1:$3/tunnels/clusters/BCS-K8S-BENCH$path" -H "Authorization: Bearer $admin" -s "$2"
  done
}
half_peak_rounds "" "$work/half.lua" "$gw"

# A 100 MiB response: time and the gateway's peak RSS while it streams through.
echo "==> 100 MiB download" >&2
big=/api/v1/namespaces/default/configmaps/big
big_get() { # url -> seconds; fails unless all 100 MiB arrived with a 200
  local out
  out=$("${pin[@]}" curl -s -o /dev/null --cacert "$work/cert.pem" -H "Authorization: Bearer $admin" -w '%{time_total} %{size_download} %{http_code}' "$1")
  read -r secs size code <<< "$out"
  [ "$code" = 200 ] && [ "$size" = $((100 << 20)) ] || { echo "100 MiB GET $1: status $code, $size bytes" >&2; exit 1; }
  echo "$secs"
}
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
big_pair() { # gateway port: sets big_direct and big_tunnel, the medians of three alternating downloads each
  local a=() b=()
  for _ in 1 2 3; do
    a+=("$(big_get "http://127.0.0.1:$1/tunnels/clusters/BCS-K8S-BENCH$big")")
    b+=("$(big_get "http://127.0.0.1:$1/tunnels/clusters/BCS-K8S-TUNNEL$big")")
  done
  big_direct=$(median3 "${a[@]}"); big_tunnel=$(median3 "${b[@]}")
}
rss_before_big=$(awk '/VmRSS/ {print $2}' "/proc/$gwpid/status")
d=(); g=(); t=()
for _ in 1 2 3; do  # alternating, median of three each
  d+=("$(big_get "https://127.0.0.1:$up$big")")
  g+=("$(big_get "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-BENCH$big")")
  t+=("$(big_get "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-TUNNEL$big")")
done
hwm_big=$(awk '/VmHWM/ {print $2}' "/proc/$gwpid/status")
direct_s=$(median3 "${d[@]}"); gw_s=$(median3 "${g[@]}"); tunnel_s=$(median3 "${t[@]}")

# Two machines in one. A tunnel exists because its cluster is elsewhere: deployed, the agent runs
# beside its apiserver, not beside the gateway, and above all not on the gateway's cores. So the
# same rows once more, pinned that way — core 0: the clients (wrk, curl) and the gateway, the control
# plane; core 1: the upstream and the agent, the cluster — direct mode against tunnel mode in
# alternating rounds, then 100 MiB downloads the same way.
echo "==> split cores: core 0 the clients and the gateway, core 1 the upstream and the agent" >&2
upstream_pids=$(cat "$work/nginx.pid"; pgrep -P "$(cat "$work/nginx.pid")")
all_cores=0-$(( $(nproc) - 1 ))
place() { for p in "${@:2}"; do taskset -a -p -c "$1" "$p" >/dev/null; done; }
place 0 "$gwpid"; place 1 "$apid" $upstream_pids
pin=(taskset -c 0)
for round in $(seq 1 "$rounds"); do
  echo "==> split-cores round $round of $rounds" >&2
  run "split: gateway, direct" "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-BENCH$path" -H "Authorization: Bearer $admin"
  run "split: gateway, tunnel" "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-TUNNEL$path" -H "Authorization: Bearer $admin"
done
big_pair "$gw"
split_gw_s=$big_direct; split_tunnel_s=$big_tunnel
pin=()
place "$all_cores" "$gwpid" "$apid" $upstream_pids

# A core of its own. Both targets are about the proxy, but on two shared cores wrk and the upstream
# queue behind the proxy and it behind them. Deployed, the gateway has cores of its own, and NIO sizes
# its event loops to the container's CPU limit (cgroup cpu.max). So: a second gateway process on the same
# database with one event loop (NIO_SINGLETON_GROUP_LOOP_COUNT=1, what a 1-CPU limit gives), on core 0
# with nginx's one-worker proxy, nothing else; wrk and the upstream on core 1. Full-rate rows in rounds,
# then half of the upstream's peak measured this way, at a constant rate as above.
echo "==> a core of its own: core 0 the proxy (nginx or a one-loop gateway), core 1 wrk and the upstream" >&2
gw1=$(free_port)
NIO_SINGLETON_GROUP_LOOP_COUNT=1 BCS_SECRET_KEY=$secret_key setsid taskset -c 0 .build/release/bcs serve --roles usermanager,gateway \
  --listen "127.0.0.1:$gw1" --mongodb-uri "$uri" --database bench_gateway --bootstrap-admin "admin:$admin" --log-level warning & pids+=($!); gw1pid=$!
for _ in $(seq 1 100); do curl -sf -H "Authorization: Bearer $admin" "http://127.0.0.1:$gw1/tunnels/clusters/BCS-K8S-BENCH$path" >/dev/null && break; sleep 0.2; done
proxy_pids=$(cat "$work/nginx-proxy.pid"; pgrep -P "$(cat "$work/nginx-proxy.pid")")
place 0 "$gw1pid" $proxy_pids; place 1 $upstream_pids
pin=(taskset -c 1)
"${pin[@]}" wrk -t1 -c"$conns" -d2s -H "Authorization: Bearer $admin" "http://127.0.0.1:$gw1/tunnels/clusters/BCS-K8S-BENCH$path" >/dev/null  # a new process: dial its upstream connections
for round in $(seq 1 "$rounds"); do
  echo "==> own-core round $round of $rounds" >&2
  run "own core: upstream directly" "https://127.0.0.1:$up$path"
  run "own core: nginx proxy_pass" "http://127.0.0.1:$ngx$path"
  run "own core: bcs gateway" "http://127.0.0.1:$gw1/tunnels/clusters/BCS-K8S-BENCH$path" -H "Authorization: Bearer $admin"
done
own_rate=$(python3 -c "print(round($(median_of "own core: upstream directly") / 2))")
sed "s/RATE/$own_rate/" Benchmarks/lib/constant-rate.lua > "$work/own-half.lua"
half_peak_rounds "own core: " "$work/own-half.lua" "$gw1"
pin=()
place "$all_cores" $proxy_pids $upstream_pids

# Under a CPU limit, as deployed on Kubernetes. A tunnel's agent runs in its cluster, beside its
# apiserver: what a tunnelled request costs the control plane is the gateway's CPU, its pods' limit.
# So: a third gateway process with one event loop (what NIO picks under a limit of one CPU or less)
# in a cgroup of its own limited to half a CPU (CFS quota 5 ms per 10 ms period: Kubernetes' 100 ms
# period throttles in 50 ms stretches, which would be most of the p99), and an agent of the same
# cluster dialling it; wrk, the upstream and the agent share the rest of the machine, more than they
# need here. Direct mode against tunnel mode in alternating rounds, then 100 MiB downloads.
limit_note="skipped: no writable CPU cgroup (cgroup v1 cpu controller at /sys/fs/cgroup/cpu)"
cg=/sys/fs/cgroup/cpu/bcs-bench-$$
if [ -w /sys/fs/cgroup/cpu ] && mkdir "$cg" 2>/dev/null; then
  echo "==> under a CPU limit: a one-loop gateway in a cgroup of half a CPU, everything else unlimited" >&2
  echo 10000 > "$cg/cpu.cfs_period_us"; echo 5000 > "$cg/cpu.cfs_quota_us"
  gw2=$(free_port)
  # The shell puts itself in the cgroup and then runs the gateway: every thread of it starts there.
  NIO_SINGLETON_GROUP_LOOP_COUNT=1 BCS_SECRET_KEY=$secret_key setsid sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" \
    .build/release/bcs serve --roles usermanager,gateway --listen "127.0.0.1:$gw2" --mongodb-uri "$uri" --database bench_gateway \
    --bootstrap-admin "admin:$admin" --log-level warning & pids+=($!); gw2pid=$!
  REGISTER_TOKEN=$ttoken setsid .build/release/bcs kube-agent --bke-address "http://127.0.0.1:$gw2" --cluster-id BCS-K8S-TUNNEL --use-websocket \
    --kubeconfig "$work/kubeconfig" --listen-addr 127.0.0.1:0 > "$work/agent2.log" 2>&1 & pids+=($!); agent2pid=$!
  for _ in $(seq 1 100); do curl -sf -H "Authorization: Bearer $admin" "http://127.0.0.1:$gw2/tunnels/clusters/BCS-K8S-TUNNEL$path" >/dev/null && break; sleep 0.2; done
  for mode in BENCH TUNNEL; do  # a new process: its upstream connections, the agent's second session
    wrk -t1 -c"$conns" -d2s -H "Authorization: Bearer $admin" "http://127.0.0.1:$gw2/tunnels/clusters/BCS-K8S-$mode$path" >/dev/null
  done
  l_ticks=(0 0); l_reqs=(0 0)
  limit_row() { # name mode index
    local g0; g0=$(ticks "$gw2pid")
    run "$1" "http://127.0.0.1:$gw2/tunnels/clusters/BCS-K8S-$2$path" -H "Authorization: Bearer $admin"
    l_ticks[$3]=$(( ${l_ticks[$3]} + $(ticks "$gw2pid") - g0 )); l_reqs[$3]=$(( ${l_reqs[$3]} + $(requests) ))
  }
  throttled0=$(awk '/nr_throttled/ {print $2}' "$cg/cpu.stat"); periods0=$(awk '/nr_periods/ {print $2}' "$cg/cpu.stat")
  for round in $(seq 1 "$rounds"); do
    echo "==> CPU-limit round $round of $rounds" >&2
    limit_row "cpu limit: gateway, direct" BENCH 0
    limit_row "cpu limit: gateway, tunnel" TUNNEL 1
  done
  throttled=$(( $(awk '/nr_throttled/ {print $2}' "$cg/cpu.stat") - throttled0 )); periods=$(( $(awk '/nr_periods/ {print $2}' "$cg/cpu.stat") - periods0 ))
  big_pair "$gw2"
  limit_gw_s=$big_direct; limit_tunnel_s=$big_tunnel
  limit_note="gateway CPU per request (us): direct $(python3 -c "print(f'{${l_ticks[0]} * 1e6 / $(getconf CLK_TCK) / ${l_reqs[0]}:.1f}')"), tunnel $(python3 -c "print(f'{${l_ticks[1]} * 1e6 / $(getconf CLK_TCK) / ${l_reqs[1]}:.1f}')"); the limit held it back in $throttled of $periods periods. 100 MiB GET (median of 3, alternating): direct ${limit_gw_s} s, tunnel ${limit_tunnel_s} s (tunnel speed / gateway speed = $(python3 -c "print(f'{$limit_gw_s / $limit_tunnel_s:.2f}')"))"
  kill "$gw2pid" "$agent2pid" 2>/dev/null || true
fi

# Idle watches: kube-sim as a second cluster, WATCHES concurrent watches held open through the gateway.
echo "==> $watches idle watches through the gateway" >&2
.build/release/bcs kube-sim --listen 127.0.0.1:0 --token sim-token --incluster-dir "$work/sim" > "$work/sim.out" 2>/dev/null & pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/sim.out" ] && break; sleep 0.1; done
simurl=$(head -1 "$work/sim.out")
curl -sf -X POST -H "Authorization: Bearer $admin" "$api/clusters" -d '{"cluster_id":"BCS-K8S-WATCH","cluster_type":"k8s"}' >/dev/null
wtoken=$(curl -s -X POST -H "Authorization: Bearer $admin" "$api/clusters/BCS-K8S-WATCH/register_tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
python3 - "$work/sim/ca.crt" "$wtoken" "$simurl" > "$work/report2.json" <<'PY'
import json, sys
print(json.dumps({"register_token": sys.argv[2], "server_addresses": sys.argv[3], "cacert_data": open(sys.argv[1]).read(), "user_token": "sim-token"}))
PY
curl -sf -X PUT "$api/clusters/BCS-K8S-WATCH/credentials" --data-binary @"$work/report2.json" >/dev/null
wpath=/tunnels/clusters/BCS-K8S-WATCH/api/v1/namespaces/default/configmaps?watch=1
for _ in $(seq 1 50); do curl -sf -H "Authorization: Bearer $admin" "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-WATCH/version" >/dev/null && break; sleep 0.2; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
sleep 1
rss_before=$(rss "$gwpid")
mkfifo "$work/hold"
python3 Benchmarks/idle_watches.py 127.0.0.1 "$gw" "$wpath" "$admin" "$watches" < "$work/hold" > "$work/watches.out" & wpid=$!
exec 9>"$work/hold"
for _ in $(seq 1 600); do grep -q ready "$work/watches.out" 2>/dev/null && break; sleep 0.2; done
sleep 2
rss_during=$(rss "$gwpid")
watch_result=$(cat "$work/watches.out")
exec 9>&-
wait "$wpid" || true

echo
echo "1 KiB JSON GET, wrk -t1 -c$conns -d${seconds}s, keep-alive, upstream nginx over TLS (this 2-core machine)"
python3 - "$results" "$rounds" "$half_rate" "$own_rate" <<'PY'
import statistics, sys
def ms(v):
    v = v.strip()
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(suffix): return float(v[: -len(suffix)]) * factor
def show(x): return f"{x * 1000:.0f}us" if x < 1 else f"{x:.2f}ms"
rows = {}
for line in open(sys.argv[1]):
    if line.strip():
        name, rps, p50, p99 = line.strip().split("|")
        rows.setdefault(name, []).append((float(rps), ms(p50), ms(p99)))
med = lambda xs: statistics.median(xs)
print(f"medians of {sys.argv[2]} rounds; each round ran every row in turn")
print(f"{'path':<28} {'req/s':>10} {'p50':>9} {'p99':>9}   req/s of each round")
for name, runs in rows.items():
    print(f"{name:<28} {med([r[0] for r in runs]):>10.0f} {show(med([r[1] for r in runs])):>9} {show(med([r[2] for r in runs])):>9}   "
          + ", ".join(f"{r[0]:.0f}" for r in runs))
def ratios(a, b): return [x[0] / y[0] for x, y in zip(rows[a], rows[b])]
def say(label, values): return f"{label} = {med(values):.2f} ({', '.join(f'{v:.2f}' for v in values)})"
print("per-round ratios, median (each round): " + "; ".join([
    say("gateway / nginx", ratios("bcs gateway (ours)", "nginx proxy_pass")),
    say("gateway / kubectl proxy", ratios("bcs gateway (ours)", "kubectl proxy")),
    say("tunnel / direct gateway", ratios("bcs gateway, tunnel mode", "bcs gateway (ours)"))]))
print("split cores (core 0: wrk and the gateway; core 1: the upstream and the agent), per-round median: "
      + say("tunnel / direct gateway", ratios("split: gateway, tunnel", "split: gateway, direct")))
def half_peak(prefix, label):
    peak = med([r[0] for r in rows[prefix + "upstream directly" + ("" if prefix else " (TLS)")]])
    u, n, g = rows[prefix + "upstream at half peak"], rows[prefix + "nginx at half peak"], rows[prefix + "gateway at half peak"]
    added = lambda xs, i: med([x[i] - y[i] for x, y in zip(xs, u)])
    rate = lambda xs: f"{med([x[0] for x in xs]):.0f} ({med([x[0] for x in xs]) / peak:.2f} of the peak)"
    print(f"{label} (median per round): gateway added p50 {added(g, 1):.2f} ms, p99 {added(g, 2):.2f} ms; "
          f"nginx added p50 {added(n, 1):.2f} ms, p99 {added(n, 2):.2f} ms; req/s: upstream {rate(u)}, nginx {rate(n)}, gateway {rate(g)}")
half_peak("", f"at half the upstream's peak ({sys.argv[3]} req/s, held by wrk)")
print("a core of its own (core 0: the proxy alone, the gateway with one event loop; core 1: wrk and the upstream), per-round median: "
      + say("gateway / nginx", ratios("own core: bcs gateway", "own core: nginx proxy_pass")))
half_peak("own core: ", f"a core of its own, at half the upstream's peak there ({sys.argv[4]} req/s)")
if "cpu limit: gateway, tunnel" in rows:
    d, t = rows["cpu limit: gateway, direct"], rows["cpu limit: gateway, tunnel"]
    print("under a CPU limit (a one-loop gateway limited to half a CPU; wrk, the upstream and the agents unlimited), per-round median: "
          + say("tunnel / direct gateway", ratios("cpu limit: gateway, tunnel", "cpu limit: gateway, direct"))
          + f"; p50 {show(med([r[1] for r in t]))} vs {show(med([r[1] for r in d]))}, p99 {show(med([r[2] for r in t]))} vs {show(med([r[2] for r in d]))}")
PY
echo "under a CPU limit: $limit_note"
cpu() { python3 -c "print(f'{$1 / $(getconf CLK_TCK) / $2 * 100:.0f}%')"; }
echo "CPU (100% = one core) during the direct-mode rows: gateway $(cpu $gw_ticks $gw_secs); during the tunnel rows: gateway $(cpu $tgw_ticks $t_secs), agent $(cpu $tag_ticks $t_secs)"
us() { python3 -c "print(f'{$1 * 1e6 / $(getconf CLK_TCK) / $2:.1f}')"; }
echo "CPU per request (us) in those rows: direct mode $(us $gw_busy $gw_reqs) for the whole machine (gateway $(us $gw_ticks $gw_reqs)); tunnel mode $(us $t_busy $t_reqs) for the whole machine (gateway $(us $tgw_ticks $t_reqs), agent $(us $tag_ticks $t_reqs)). With all of it on these two cores, tunnel / direct can reach at most $(python3 -c "print(f'{$gw_busy / $gw_reqs / ($t_busy / $t_reqs):.2f}')"); with the agent on a machine of its own (as deployed), the gateway's share bounds it at $(python3 -c "print(f'{$gw_ticks / $gw_reqs / ($tgw_ticks / $t_reqs):.2f}')")"
echo "100 MiB GET (median of 3, alternating): upstream directly ${direct_s} s, through the gateway ${gw_s} s, through the agent tunnel ${tunnel_s} s (tunnel speed / gateway speed = $(python3 -c "print(f'{$gw_s / $tunnel_s:.2f}')")); gateway RSS before ${rss_before_big} KiB, peak so far ${hwm_big} KiB"
echo "100 MiB GET on split cores (median of 3, alternating): through the gateway ${split_gw_s} s, through the agent tunnel ${split_tunnel_s} s (tunnel speed / gateway speed = $(python3 -c "print(f'{$split_gw_s / $split_tunnel_s:.2f}')"))"
echo "idle watches through the gateway: $watch_result; gateway RSS ${rss_before} KiB -> ${rss_during} KiB = $(awk -v a="$rss_before" -v b="$rss_during" -v n="$watches" 'BEGIN { printf "%.1f", (b - a) / n }') KiB per watch"
