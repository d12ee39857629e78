-- Moves up to ARGV[1] of the oldest elements of a gateway list into a new in-flight list and records
-- that list in the source's in-flight index with a lease deadline, all in one atomic step: an element
-- is either still in the gateway list or in exactly one in-flight list, never in both or neither.
--
-- KEYS[1] gateway list      KEYS[2] new in-flight list      KEYS[3] in-flight index (zset)
-- ARGV[1] max elements      ARGV[2] lease in milliseconds    ARGV[3] max bytes (0: no limit)
--
-- The elements never pass through Lua: SORT … BY nosort LIMIT … STORE copies the head of the list inside
-- Redis, and the worker reads the in-flight list with an LRANGE pipelined behind this script. Taken into
-- Lua and pushed back out, every element was copied three more times and left to Lua's collector, which
-- made Redis's share of a claim about three times larger. A server whose ACL refuses SORT (it is in
-- @dangerous) gets the elements copied through Lua as before.
--
-- The byte limit keeps a worker's memory bounded when records are large (detailed recording of big
-- bodies): the elements are taken oldest first while they fit, and the first one is taken whatever its size,
-- so an element larger than the limit is never stuck at the head of the list. MEMORY USAGE of the copy is
-- an upper bound of its bytes that costs one step per node, not per element; only a copy over the limit
-- is measured element by element.
--
-- Returns {elements claimed, connected replicas, replication id (see replication-state.lua), 1 when the
-- byte limit left elements behind that the count would have taken, else 0}.
--
-- ioredis resends a command whose reply a dropped connection lost. A resent claim finds its in-flight
-- list already there and reports that batch again; claiming more into it would put elements in the list
-- that the worker never sees and that the ack would delete.
if redis.call('ZSCORE', KEYS[3], KEYS[2]) then
  local replicas, replid = replication_state()
  return { redis.call('LLEN', KEYS[2]), replicas, replid, 0 }
end

local function copy_head(count)
  local copied = redis.pcall('SORT', KEYS[1], 'BY', 'nosort', 'LIMIT', 0, count, 'STORE', KEYS[2])
  if type(copied) == 'number' then return copied end
  local items = redis.call('LRANGE', KEYS[1], 0, count - 1)
  -- unpack() is bounded by Lua's C stack, so large chunks are pushed in slices.
  for first = 1, #items, 1000 do
    redis.call('RPUSH', KEYS[2], unpack(items, first, math.min(first + 999, #items)))
  end
  return #items
end

-- How many of the first `count` elements fit in max_bytes, the first always.
local function fitting(count, max_bytes)
  local items = redis.call('LRANGE', KEYS[1], 0, count - 1)
  local bytes = #items[1]
  for i = 2, #items do
    bytes = bytes + #items[i]
    if bytes > max_bytes then return i - 1 end
  end
  return #items
end

local count = copy_head(tonumber(ARGV[1]))
if count == 0 then
  return { 0, 0, '', 0 }
end
local cut = 0
local max_bytes = tonumber(ARGV[3])
if max_bytes > 0 and count > 1 and redis.call('MEMORY', 'USAGE', KEYS[2], 'SAMPLES', 0) > max_bytes then
  local fit = fitting(count, max_bytes)
  if fit < count then
    redis.call('DEL', KEYS[2])
    count = copy_head(fit)
    cut = 1
  end
end
redis.call('LTRIM', KEYS[1], count, -1)
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[2]), KEYS[2])
local replicas, replid = replication_state()
return { count, replicas, replid, cut }
