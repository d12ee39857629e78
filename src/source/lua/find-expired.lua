-- Lists in-flight lists whose lease has run out, judged by the Redis server's clock so that workers on
-- different hosts agree.
--
-- KEYS[1] in-flight index
-- ARGV[1] max lists to return
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
