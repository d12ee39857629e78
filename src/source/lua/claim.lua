-- Moves up to ARGV[1] of the oldest elements of a gateway list into a new in-flight list and records
-- that list in the source's in-flight index with a lease deadline, all in one atomic step: an element
-- is either still in the gateway list or in exactly one in-flight list, never in both or neither.
--
-- KEYS[1] gateway list      KEYS[2] new in-flight list      KEYS[3] in-flight index (zset)
-- ARGV[1] max elements      ARGV[2] lease in milliseconds    ARGV[3] max bytes (0: no limit)
--
-- The byte limit keeps a worker's memory bounded when records are large (detailed recording of big
-- bodies): the elements are taken oldest first while they fit, and the first one is taken whatever its size,
-- so an element larger than the limit is never stuck at the head of the list.
-- Returns {elements oldest first, connected replicas, replication id (see replication-state.lua), 1 when
-- the byte limit left elements behind that the count would have taken, else 0}.
--
-- ioredis resends a command whose reply a dropped connection lost. A resent claim finds its in-flight
-- list already there and returns that batch again; claiming more into it would put elements in the list
-- that the worker never sees and that the ack would delete.
if redis.call('ZSCORE', KEYS[3], KEYS[2]) then
  local replicas, replid = replication_state()
  return { redis.call('LRANGE', KEYS[2], 0, -1), replicas, replid }
end
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then
  return { items, 0, '', 0 }
end
local cut = 0
local max_bytes = tonumber(ARGV[3])
if max_bytes > 0 then
  local bytes = #items[1]
  for i = 2, #items do
    bytes = bytes + #items[i]
    if bytes > max_bytes then
      for j = #items, i, -1 do items[j] = nil end
      cut = 1
      break
    end
  end
end
-- unpack() is bounded by Lua's C stack, so large chunks are pushed in slices.
for first = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, first, math.min(first + 999, #items)))
end
redis.call('LTRIM', KEYS[1], #items, -1)
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[2]), KEYS[2])
local replicas, replid = replication_state()
return { items, replicas, replid, cut }
