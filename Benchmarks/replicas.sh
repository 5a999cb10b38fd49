#!/usr/bin/env bash
# Scale-out benchmark: two `bcs serve --roles usermanager,gateway` replicas over one MongoDB.
#
# 1. Forwarding cost: a cluster whose agent (`bcs kube-agent --use-websocket`, apiserver = nginx
#    serving a 1 KiB JSON object over TLS) holds its tunnel to replica A. wrk (1 thread, CONNS
#    connections) GETs it through A (served by its own session) and through B (forwarded to A over
#    the peer link); the difference is what forwarding adds.
# 2. Re-homing: AGENTS simulated agents (`bcs agent-fleet`) dial the replicas through a TCP balancer
#    (scripts/tcp-balancer.py, as a Kubernetes Service would); replica A is killed with SIGKILL and
#    the time until every agent has a session again (all on B) is measured.
#
# usage: Benchmarks/replicas.sh [SECONDS (default 8)] [CONNS (default 8)] [AGENTS (default 1000)]
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib/tls-upstream.sh
seconds=${1:-8}
conns=${2:-8}
agents=${3:-1000}
scripts/setup
for tool in nginx wrk; do
  command -v $tool >/dev/null || { echo "==> installing nginx-light wrk" >&2; apt-get install -y -qq nginx-light wrk >/dev/null; break; }
done
echo "==> building bcs (release)" >&2
swift build -c release --product bcs 2>&1 | grep -E "error|Build complete" >&2 || true
bcs=.build/release/bcs

work=$(mktemp -d); chmod 755 "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port); a=$(free_port); b=$(free_port); lb=$(free_port); mport=$(free_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; stop_tls_upstream "$work"; scripts/mongo stop "$mport"; rm -rf "$work" ".run/mongo-$mport"; }
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

start_tls_upstream "$work" "$up"

uri=$(scripts/mongo start "$mport" ".run/mongo-$mport/data")
admin=BenchReplicaAdmin0123456789abcdeXY
export BCS_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))') BCS_PEER_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
start_replica() { # port
  $bcs serve --roles usermanager,gateway --listen "127.0.0.1:$1" --mongodb-uri "$uri" --database bench_replicas \
    --bootstrap-admin "admin:$admin" --peer-url "http://127.0.0.1:$1" --log-level error > "$work/serve-$1.log" 2>&1 &
  echo $!
}
apid=$(start_replica "$a"); bpid=$(start_replica "$b"); pids+=("$apid" "$bpid")
for port in "$a" "$b"; do
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
api="http://127.0.0.1:$a/bcsapi/v4/usermanager/v1"
register() { # cluster id -> register token
  curl -sf -X POST -H "Authorization: Bearer $admin" "$api/clusters" -d "{\"cluster_id\":\"$1\",\"cluster_type\":\"k8s\"}" >/dev/null
  curl -s -X POST -H "Authorization: Bearer $admin" "$api/clusters/$1/register_tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])'
}

echo "==> forwarding cost" >&2
token=$(register BCS-K8S-FWD)
REGISTER_TOKEN=$token $bcs kube-agent --bke-address "http://127.0.0.1:$a" --cluster-id BCS-K8S-FWD --use-websocket \
  --kubeconfig "$work/kubeconfig" --listen-addr 127.0.0.1:0 > "$work/agent.log" 2>&1 & pids+=($!)
path=/tunnels/clusters/BCS-K8S-FWD/api/v1/namespaces/default/configmaps/bench
for port in "$a" "$b"; do
  for _ in $(seq 1 100); do curl -sf -H "Authorization: Bearer $admin" "http://127.0.0.1:$port$path" >/dev/null && break; sleep 0.2; done
done
results="$work/results"
run() { # name url [connections]
  wrk -t1 -c"${3:-$conns}" -d"${seconds}s" --latency -H "Authorization: Bearer $admin" "$2" > "$work/wrk.txt"
  if grep -q "Non-2xx" "$work/wrk.txt" || ! grep -q "Requests/sec" "$work/wrk.txt"; then cat "$work/wrk.txt" >&2; echo "$1: non-2xx answers" >&2; exit 1; fi
  echo "$1|$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")|$(awk '$1=="50%" {print $2}' "$work/wrk.txt")|$(awk '$1=="99%" {print $2}' "$work/wrk.txt")" >> "$results"
}
run "A (owns the tunnel), 1 conn" "http://127.0.0.1:$a$path" 1
run "B (forwards to A), 1 conn" "http://127.0.0.1:$b$path" 1
run "A (owns the tunnel), $conns conns" "http://127.0.0.1:$a$path"
run "B (forwards to A), $conns conns" "http://127.0.0.1:$b$path"

echo "==> $agents agents re-homing" >&2
python3 - "$a" "$admin" "$agents" > "$work/clusters" <<'PY'
import json, sys, urllib.request
port, admin, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
api = f"http://127.0.0.1:{port}/bcsapi/v4/usermanager/v1"
def call(method, path, body=None):
    request = urllib.request.Request(api + path, method=method, data=json.dumps(body).encode() if body else None, headers={"Authorization": f"Bearer {admin}"})
    return json.load(urllib.request.urlopen(request))
for i in range(count):
    cid = f"BCS-K8S-R{i:05d}"
    call("POST", "/clusters", {"cluster_id": cid, "cluster_type": "k8s"})
    print(cid, call("POST", f"/clusters/{cid}/register_tokens")["data"]["token"])
PY
python3 scripts/tcp-balancer.py "$lb" "$a" "$b" > "$work/lb.out" 2>&1 & pids+=($!)
for _ in $(seq 1 50); do grep -q listening "$work/lb.out" 2>/dev/null && break; sleep 0.1; done
$bcs agent-fleet --bke-address "http://127.0.0.1:$lb" --clusters "$work/clusters" --kubeconfig "$work/kubeconfig" > "$work/fleet.out" 2>&1 & pids+=($!)
wait_all() { for _ in $(seq 1 1200); do [ "$(grep -c '^all ' "$work/fleet.out")" -ge "$1" ] && return; sleep 0.1; done; echo "agents did not all connect" >&2; tail -3 "$work/fleet.out" >&2; exit 1; }
wait_all 1
sleep 6   # a renew period: both replicas have published what they hold
owned() { curl -s -H "Authorization: Bearer $admin" "http://127.0.0.1:$1/gateway/v1/replica" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["owned_tunnel_clusters"])'; }
owned_a=$(owned "$a"); owned_b=$(owned "$b")
kill -KILL "$apid"
t0=$(date +%s.%N)
wait_all 2
rehome_s=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
probe=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $admin" "http://127.0.0.1:$b/tunnels/clusters/BCS-K8S-R00003/api/v1/namespaces/default/configmaps/bench")

echo
echo "replicas: 2 x bcs serve --roles usermanager,gateway over one nx-27017 (this 2-core machine)"
echo "1 KiB GET through the agent tunnel, wrk -t1 -d${seconds}s"
printf '%-34s %10s %10s %10s\n' path req/s p50 p99
while IFS='|' read -r name rps p50 p99; do printf '%-34s %10s %10s %10s\n' "$name" "$rps" "$p50" "$p99"; done < "$results"
python3 - "$results" <<'PY'
import sys
def ms(v):
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(suffix): return float(v[: -len(suffix)]) * factor
rows = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
for a, b in ((rows[0], rows[1]), (rows[2], rows[3])):
    load = a[0].split(", ")[1]
    print(f"forwarding adds ({load}): p50 {ms(b[2]) - ms(a[2]):.2f} ms, p99 {ms(b[3]) - ms(a[3]):.2f} ms; throughput B/A = {float(b[1]) / float(a[1]):.2f}")
PY
echo "re-homing: $agents agents (A held $owned_a, B held $owned_b); A killed; all $agents had a session again after ${rehome_s} s; GET via B for a re-homed cluster: HTTP $probe"
