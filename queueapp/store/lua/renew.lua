-- Extend a worker's slot lease while its batch runs; a slot already taken back (the worker
-- was presumed dead, or its batch timed out) stays gone.
-- KEYS[1] slots zset
-- ARGV[1] slot token   ARGV[2] lease seconds
-- Returns 1 if the slot is still this worker's, else 0.
local now = clock()
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
