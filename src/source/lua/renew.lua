-- Extends the lease of an in-flight list this worker still holds. Returns 0 when the list is no longer
-- in the index under this name (acknowledged, or taken over by another worker after the lease ran out).
--
-- KEYS[1] in-flight index   KEYS[2] in-flight list
-- ARGV[1] lease in milliseconds
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now_ms + tonumber(ARGV[1]), KEYS[2])
