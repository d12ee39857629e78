-- Hands an unfinished in-flight list back: its lease expires at once, so the next reclaim by any worker
-- (this one after a restart included) redelivers it whole.
--
-- KEYS[1] in-flight index   KEYS[2] in-flight list
return redis.call('ZADD', KEYS[1], 'XX', 'CH', 0, KEYS[2])
