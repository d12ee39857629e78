-- Takes over an in-flight list whose lease ran out: renames it to this worker's name and leases it anew.
-- The expiry is checked again here, atomically, so two workers racing for one orphan cannot both win.
--
-- KEYS[1] in-flight index   KEYS[2] orphaned in-flight list   KEYS[3] new in-flight list name
-- ARGV[1] lease in milliseconds
-- Returns {elements, connected replicas, replication id} (see replication-state.lua), or nil when the
-- list is no longer an orphan.
local replicas, replid
-- A take-over resent after a lost reply finds the list already under its new name: the same batch.
if redis.call('ZSCORE', KEYS[1], KEYS[3]) then
  replicas, replid = replication_state()
  return { redis.call('LRANGE', KEYS[3], 0, -1), replicas, replid }
end
local score = redis.call('ZSCORE', KEYS[1], KEYS[2])
if not score then
  return nil
end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if tonumber(score) > now_ms then
  return nil
end
redis.call('ZREM', KEYS[1], KEYS[2])
if redis.call('EXISTS', KEYS[2]) == 0 then
  return nil
end
redis.call('RENAME', KEYS[2], KEYS[3])
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[1]), KEYS[3])
replicas, replid = replication_state()
return { redis.call('LRANGE', KEYS[3], 0, -1), replicas, replid }
