-- A constant total rate for wrk: RATE requests/s over all connections of its one thread (-t1). Each
-- request takes the next slot of one schedule and waits for it (wrk's delays are whole milliseconds).
-- wrk's own --latency then measures at that load; a server slower than the rate falls behind, and the
-- rate wrk reports shows it. The script that uses it replaces RATE.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms() ffi.C.clock_gettime(1, ts); return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6 end
local interval = 1000 / RATE
local slot = nil
function delay()
  local now = now_ms()
  -- Behind schedule (the server slower than the rate): no burst to catch up.
  if slot == nil or slot < now - 2 then slot = now end
  slot = slot + interval
  local wait = slot - now
  if wait <= 0 then return 0 end
  return math.floor(wait + 0.5)
end
