-- Undoes a claim whose replication could not be confirmed, before anything was written from it: the
-- elements go back to the head of the gateway list in their order and the in-flight list is forgotten.
-- Does nothing when the list is no longer in the index under this name (taken over, or lost with a
-- failover, in which case its elements are in the gateway list already).
--
-- KEYS[1] gateway list      KEYS[2] in-flight list      KEYS[3] in-flight index
-- Returns how many elements went back.
if not redis.call('ZSCORE', KEYS[3], KEYS[2]) then
  return 0
end
local items = redis.call('LRANGE', KEYS[2], 0, -1)
-- LPUSH puts each argument at the head in turn, so the elements go in last first, in slices (see claim.lua).
local reversed = {}
for i = #items, 1, -1 do
  reversed[#reversed + 1] = items[i]
end
for first = 1, #reversed, 1000 do
  redis.call('LPUSH', KEYS[1], unpack(reversed, first, math.min(first + 999, #reversed)))
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], KEYS[2])
return #items
