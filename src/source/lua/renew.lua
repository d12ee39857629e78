-- Extends the lease of an in-flight list this worker still holds. Returns 0 when the list is no longer
-- in the index under this name (acknowledged, or taken over by another worker after the lease ran out).
-- Membership is tested on its own: ZADD's changed-count is 0 also when the new deadline equals the old
-- one (a renewal in the millisecond of the claim), which is not a lost lease.
--
-- KEYS[1] in-flight index   KEYS[2] in-flight list
-- ARGV[1] lease in milliseconds
if not redis.call('ZSCORE', KEYS[1], KEYS[2]) then
  return 0
end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now_ms + tonumber(ARGV[1]), KEYS[2])
return 1
