#!/usr/bin/env bash
# Tunnel fleet benchmark: AGENTS simulated agents (`bcs agent-fleet`, one TunnelAgent each, in one
# process) hold reverse tunnels to one `bcs serve --roles usermanager,gateway`.
#
# Prints: the time for all of them to connect from cold, the gateway's RSS per idle tunnel, a
# request through one of the tunnels, and the time for all of them to reconnect after the gateway
# is restarted (SIGTERM, then the same command again).
#
# usage: Benchmarks/tunnel-fleet.sh [AGENTS (default 1000)]
set -euo pipefail
cd "$(dirname "$0")/.."
agents=${1:-1000}
scripts/setup
echo "==> building bcs (release)" >&2
swift build -c release --product bcs 2>&1 | grep -E "error|Build complete" >&2 || true
[ -x .build/release/bcs ] || { echo "build failed" >&2; exit 1; }
bcs=.build/release/bcs

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw=$(free_port); mport=$(free_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${gwpid:-}" ] && kill "$gwpid" 2>/dev/null; scripts/mongo stop "$mport"; rm -rf "$work" ".run/mongo-$mport"; }
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

uri=$(scripts/mongo start "$mport" ".run/mongo-$mport/data")
admin=BenchFleetAdmin0123456789abcdefXY
secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
start_gateway() {
  BCS_SECRET_KEY=$secret $bcs serve --roles usermanager,gateway --listen "127.0.0.1:$gw" --mongodb-uri "$uri" \
    --database bench_fleet --bootstrap-admin "admin:$admin" --log-level error > "$work/serve.log" 2>&1 &
  gwpid=$!
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$gw/readyz" >/dev/null && return; sleep 0.1; done
  echo "gateway did not become ready" >&2; cat "$work/serve.log" >&2; exit 1
}
start_gateway
$bcs kube-sim --listen 127.0.0.1:0 --token sim-token --kubeconfig-out "$work/kubeconfig" > "$work/sim.out" 2>/dev/null & pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/kubeconfig" ] && break; sleep 0.1; done

echo "==> registering $agents clusters" >&2
python3 - "$gw" "$admin" "$agents" > "$work/clusters" <<'PY'
import json, sys, urllib.request
gw, admin, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
api = f"http://127.0.0.1:{gw}/bcsapi/v4/usermanager/v1"
def call(method, path, body=None):
    request = urllib.request.Request(api + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {admin}"})
    return json.load(urllib.request.urlopen(request))
for i in range(count):
    cid = f"BCS-K8S-F{i:05d}"
    call("POST", "/clusters", {"cluster_id": cid, "cluster_type": "k8s"})
    print(cid, call("POST", f"/clusters/{cid}/register_tokens")["data"]["token"])
PY

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
sleep 1
rss_before=$(rss "$gwpid")
echo "==> $agents agents connecting" >&2
$bcs agent-fleet --bke-address "http://127.0.0.1:$gw" --clusters "$work/clusters" --kubeconfig "$work/kubeconfig" > "$work/fleet.out" 2>&1 & pids+=($!)
fleetpid=$!
wait_all() { # the Nth "all connected" line
  for _ in $(seq 1 1200); do [ "$(grep -c '^all ' "$work/fleet.out")" -ge "$1" ] && return; sleep 0.1; done
  echo "agents did not all connect:" >&2; tail -5 "$work/fleet.out" >&2; exit 1
}
t0=$(date +%s.%N)
wait_all 1
cold_s=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
sleep 5
rss_after=$(rss "$gwpid")
fleet_rss=$(rss "$fleetpid")
probe=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $admin" "http://127.0.0.1:$gw/tunnels/clusters/BCS-K8S-F00007/api/v1/namespaces")
sessions=$(curl -s -H "Authorization: Bearer $admin" "http://127.0.0.1:$gw/gateway/v1/clusters" | python3 -c 'import json,sys; print(sum(c.get("tunnel_sessions",0) for c in json.load(sys.stdin)["data"]))')

echo "==> restarting the gateway" >&2
kill -TERM "$gwpid"; wait "$gwpid" 2>/dev/null || true
t1=$(date +%s.%N)
start_gateway
ready_s=$(python3 -c "print(f'{$(date +%s.%N) - $t1:.2f}')")
wait_all 2
reconnect_s=$(python3 -c "print(f'{$(date +%s.%N) - $t1:.2f}')")

echo
echo "tunnel fleet: $agents simulated agents (bcs agent-fleet) -> bcs serve --roles usermanager,gateway (this 2-core machine)"
echo "all connected from cold:               ${cold_s} s"
echo "tunnel sessions the gateway reports:   $sessions"
echo "GET through one tunnel:                HTTP $probe"
echo "gateway RSS:                           ${rss_before} KiB -> ${rss_after} KiB = $(awk -v a="$rss_before" -v b="$rss_after" -v n="$agents" 'BEGIN { printf "%.1f", (b - a) / n }') KiB per idle tunnel (rounded to 0.1, not down)"
echo "agent-fleet RSS:                       ${fleet_rss} KiB ($(( fleet_rss / agents )) KiB per agent)"
echo "gateway restart: ready after ${ready_s} s; all $agents reconnected ${reconnect_s} s after the restart began"
