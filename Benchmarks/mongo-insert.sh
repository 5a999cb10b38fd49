#!/usr/bin/env bash
# Driver-layer benchmark: 10,000 event-sized documents (~1.5 KiB) inserted with one insertMany
# through BCSMongo (libmongoc on its thread pool) and, in the same run against the same server,
# through pymongo. Prints both rates and their ratio. Target: BCSMongo >= 0.9x pymongo.
#
# usage: Benchmarks/mongo-insert.sh [COUNT] [ROUNDS]
# The server is nx-27017 (a Python/SQLite MongoDB-compatible server): absolute rates are the
# server's; the ratio is the figure that matters.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
rounds=${2:-3}
scripts/setup

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'scripts/mongo stop "$port"; rm -rf ".run/mongo-$port"' EXIT
uri=$(scripts/mongo start "$port" ".run/mongo-$port/data")

echo "==> building the benchmark (release)" >&2
swift build -c release --package-path Benchmarks --product MongoInsertBenchmark 2>&1 | grep -E "error|warning: .*Benchmarks|Compiling MongoInsert|Build" >&2 || true
bench="Benchmarks/.build/release/MongoInsertBenchmark"
[ -x "$bench" ] || { echo "benchmark build failed" >&2; exit 1; }

results=$(mktemp)
for round in $(seq 1 "$rounds"); do
  echo "==> round $round/$rounds" >&2
  # Alternate which goes first so neither always meets a warmer server.
  if [ $((round % 2)) = 1 ]; then order="swift py"; else order="py swift"; fi
  for who in $order; do
    if [ "$who" = swift ]; then "$bench" "$uri" bench insert_swift "$count" >>"$results"
    else .venv/bin/python Benchmarks/mongo_insert_pymongo.py "$uri" bench insert_py "$count" >>"$results"; fi
  done
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["driver"], []).append(r)
def med(d): return statistics.median(r["docs_per_sec"] for r in by[d])
swift, py = med("bcs-mongo"), med("pymongo")
n = rows[0]["documents"]
print(f"\ninsertMany of {n} event documents (~{rows[0]['avg_bytes']} B each), median of {len(by['pymongo'])} rounds, same nx-27017 server")
print(f"{'driver':<28}{'docs/s (median)':>18}{'all rounds':>40}")
for d, label in (("pymongo", "pymongo (baseline)"), ("bcs-mongo", "BCSMongo (libmongoc)")):
    rounds = ", ".join(format(r["docs_per_sec"], ",.0f") for r in by[d])
    print(f"{label:<28}{med(d):>18,.0f}{rounds:>40}")
ratio = swift / py
print(f"{'ratio BCSMongo / pymongo':<28}{ratio:>18.2f}   target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'}")
PY
