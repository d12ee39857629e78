-- Forgets an in-flight list once every sink has its batch. A list another worker took over has been
-- renamed, so acknowledging it under the old name changes nothing.
--
-- KEYS[1] in-flight index   KEYS[2] in-flight list
redis.call('ZREM', KEYS[1], KEYS[2])
return redis.call('DEL', KEYS[2])
