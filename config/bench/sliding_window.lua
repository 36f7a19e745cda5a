-- drl-bench, Redis baseline: a sliding window counter with two keys, the usual script for
-- the approximation drl's "sliding" algorithm makes (Cloudflare's): the previous window's
-- count weighted by the part of it still inside the sliding window, plus the current
-- window's count. Windows are aligned to the Unix epoch on Redis' clock (TIME), as drl aligns
-- them; each window is its own key, "<key>:<window id>", kept until it can no longer be the
-- previous window. A denied request is not counted.
--
--   EVALSHA <sha> 1 <key> <limit> <window_ms> <cost>
--
-- The window keys are derived from KEYS[1] inside the script; on Redis Cluster they would
-- have to be passed as KEYS (with a hash tag) instead. Standalone Redis does not mind.
-- Returns {allowed (1 or 0), remaining, ms until the current window ends}.
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])

local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window_id = math.floor(now_ms / window_ms)
local elapsed_ms = now_ms - window_id * window_ms
local current_key = KEYS[1] .. ':' .. window_id
local previous_key = KEYS[1] .. ':' .. (window_id - 1)

local counts = redis.call('MGET', current_key, previous_key)
local current = tonumber(counts[1] or '0')
local previous = tonumber(counts[2] or '0')
local estimate = previous * (window_ms - elapsed_ms) / window_ms + current
if estimate + cost > limit then
  return {0, math.max(0, math.floor(limit - estimate)), window_ms - elapsed_ms}
end
current = redis.call('INCRBY', current_key, cost)
if current == cost then
  redis.call('PEXPIRE', current_key, 2 * window_ms - elapsed_ms)
end
return {1, math.max(0, math.floor(limit - estimate - cost)), window_ms - elapsed_ms}
