#!/usr/bin/env bash
# Storage role benchmark: events/s through POST /bcsstorage/v1/events/batch (batches of 500,
# ~1.6 KiB events, 8 concurrent clients) beside the same documents bulk-inserted straight through
# BCSMongo, in the same run against the same server; then the p50/p99 latency of a filtered events
# query (clusterId + namespace + time range, length 100) over everything stored.
#
# usage: Benchmarks/storage.sh [COUNT (default 100000)] [QUERIES (default 200)]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
queries=${2:-200}
scripts/setup

echo "==> building bcs and the benchmark (release)" >&2
swift build -c release --product bcs 2>&1 | grep -E "error|Build complete|Compiling bcs" >&2 || true
swift build -c release --package-path Benchmarks --product StorageBenchmark 2>&1 | grep -E "error|Build complete" >&2 || true
[ -x .build/release/bcs ] && [ -x Benchmarks/.build/release/StorageBenchmark ] || { echo "build failed" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mport=$(free_port); port=$(free_port)
uri=$(scripts/mongo start "$mport" ".run/mongo-$mport/data")
# nx-27017 answers nothing else while it digests a 500-document batch: give heartbeats and
# operations generous timeouts so the measurement is of throughput, not of timeouts.
uri="$uri/?serverSelectionTimeoutMS=60000&connectTimeoutMS=30000&socketTimeoutMS=300000"
.build/release/bcs serve --roles storage --listen "127.0.0.1:$port" --mongodb-uri "$uri" --database bench --log-level warning &
serve=$!
trap 'kill $serve 2>/dev/null; wait $serve 2>/dev/null; scripts/mongo stop "$mport"; rm -rf ".run/mongo-$mport"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
# Let the index bootstrap finish so both paths insert against the same indexes.
sleep 1

results=$(mktemp)
Benchmarks/.build/release/StorageBenchmark "http://127.0.0.1:$port" "$uri" bench "$count" "$queries" | tee "$results" >&2

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ingest = {r["path"]: r for r in rows if r["measure"] == "ingest"}
d, a = ingest["direct insertMany (BCSMongo)"], ingest["POST /events/batch"]
queries = {r["path"]: r for r in rows if r["measure"] == "query"}
q, qd = queries["GET /events"], queries["direct find + count (BCSMongo)"]
print(f"\nevent ingest: {a['documents']:,} events of ~{a['avg_bytes']} B, batches of 500, 8 concurrent clients, same nx-27017 server")
print(f"{'path':<36}{'events/s':>12}{'seconds':>10}")
print(f"{'direct insertMany (baseline)':<36}{d['docs_per_sec']:>12,.0f}{d['seconds']:>10.1f}")
print(f"{'POST /events/batch (ours)':<36}{a['docs_per_sec']:>12,.0f}{a['seconds']:>10.1f}")
ratio = a['docs_per_sec'] / d['docs_per_sec']
print(f"{'ratio API / direct':<36}{ratio:>12.2f}   target >= 0.80: {'met' if ratio >= 0.8 else 'NOT met'}")
print(f"\nfiltered query (clusterId + namespace + time range, length 100) over {q['stored']:,} events, {q['queries']} queries:")
print(f"{'path':<36}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
print(f"{'direct find + count (baseline)':<36}{qd['p50_ms']:>10.1f}{qd['p99_ms']:>10.1f}{qd['max_ms']:>10.1f}")
print(f"{'GET /events (ours)':<36}{q['p50_ms']:>10.1f}{q['p99_ms']:>10.1f}{q['max_ms']:>10.1f}")
PY
