#!/usr/bin/env bash
# CPU per request of one process while wrk loads it: the process's CPU ticks (user + system, from
# /proc/PID/stat) over a wrk run, divided by the requests wrk completed. For A/B comparisons of
# builds in the same minutes (this machine's speed drifts; alternate the builds, several pairs).
#
# usage: Benchmarks/cpu-per-request.sh URL PID [SECONDS (default 5)] [TOKEN]
#   e.g. Benchmarks/cpu-per-request.sh http://127.0.0.1:18090/tunnels/clusters/C/api/v1/namespaces "$(pgrep -f 'bcs serve')" 5 "$ADMIN"
set -euo pipefail
url=$1; pid=$2; secs=${3:-5}; token=${4:-}
header=(); [ -n "$token" ] && header=(-H "Authorization: Bearer $token")
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks)
out=$(wrk -t1 -c32 -d"${secs}s" "${header[@]}" "$url")
t1=$(ticks)
# A rate of error pages is not a result.
if echo "$out" | grep -q "Non-2xx" || ! echo "$out" | grep -q "Requests/sec"; then
  echo "$out" >&2; echo "some answers were not 2xx; no figure reported" >&2; exit 1
fi
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
hz=$(getconf CLK_TCK)
python3 -c "print(f'{float(\"$rps\"):.0f} req/s, {($t1 - $t0) * 1e6 / $hz / $reqs:.1f} us CPU per request')"
