-- drl-bench, Redis baseline: a fixed window counter, the usual INCRBY + PEXPIRE script.
-- The first increment of a window sets the key's time to live, so the window starts with
-- the key's first request and the key expires with it. Changed in one way from the common
-- version (INCR first, deny when the result exceeds the limit): a denied request is NOT
-- counted, as drl counts. It reads first (GET) and increments only what it admits, which
-- is atomic because a script runs alone.
--
--   EVALSHA <sha> 1 <key> <limit> <window_ms> <cost>
--
-- Returns {allowed (1 or 0), remaining, reset_after_ms}.
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])

local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + cost > limit then
  return {0, limit - used, redis.call('PTTL', KEYS[1])}
end
used = redis.call('INCRBY', KEYS[1], cost)
if used == cost then
  redis.call('PEXPIRE', KEYS[1], window_ms)
  return {1, limit - used, window_ms}
end
return {1, limit - used, redis.call('PTTL', KEYS[1])}
