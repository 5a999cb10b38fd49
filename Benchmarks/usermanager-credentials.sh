#!/usr/bin/env bash
# User-manager benchmark: 10,000 clusters registered through the API, each reporting its
# credentials (PUT /usermanager/v1/clusters/{id}/credentials) over 64 concurrent keep-alive
# connections to `bcs serve --roles usermanager` (release build), beside the same documents upserted
# straight into the same nx-27017 server through BCSMongo in the same run; then the server's RSS
# per idle registered cluster. Prints one table. Targets: >= 0.8x the upsert rate, <= 16 KiB/cluster.
#
# The MongoDB-compatible server is pinned to CPU 0 and everything else (bcs serve, the load
# generator, the baseline's client) to CPU 1, as a database on a host of its own: on these 2-core
# machines an unpinned nx-27017 (a Python process that needs a whole core) and bcs serve otherwise
# take turns on one core, and the figure measures the scheduler more than either. BCS_BENCH_PIN=0
# runs unpinned.
#
# usage: Benchmarks/usermanager-credentials.sh [CLUSTERS] [CONNECTIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
clusters=${1:-10000}
connections=${2:-64}
rounds=${3:-3}
scripts/setup

echo "==> building bcs and the benchmark (release)" >&2
swift build -c release --product bcs 2>&1 | grep -E "error|Compiling bcs|Build complete" >&2 || true
[ -x .build/release/bcs ] || { echo "bcs release build failed" >&2; exit 1; }
swift build -c release --package-path Benchmarks --product UserManagerBenchmark 2>&1 | grep -E "error|Build complete" >&2 || true
bench="Benchmarks/.build/release/UserManagerBenchmark"
[ -x "$bench" ] || { echo "benchmark build failed" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'scripts/mongo stop "$port"; rm -rf ".run/mongo-$port"' EXIT
uri=$(scripts/mongo start "$port" ".run/mongo-$port/data")
if [ "${BCS_BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  taskset -a -pc 0 "$(cat ".run/mongo-$port/pid")" >/dev/null
  echo "==> nx-27017 pinned to CPU 0; bcs serve and the load generator to CPU 1" >&2
  taskset -c 1 "$bench" .build/release/bcs "$uri" "$clusters" "$connections" "$rounds"
else
  echo "==> unpinned" >&2
  "$bench" .build/release/bcs "$uri" "$clusters" "$connections" "$rounds"
fi
