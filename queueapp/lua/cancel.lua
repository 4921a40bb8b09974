-- Cancel a waiting job for its owner.
-- KEYS[1] waiting zset   KEYS[2] the job's hash   KEYS[3] stats hash   KEYS[4] detached zset
-- ARGV[1] job id   ARGV[2] owner   ARGV[3] seconds to keep the cancelled job
-- ARGV[4] the demo's key prefix
-- Returns {"cancelled", ticket, line seq, reply channel} | {"not_waiting", status} | {"unknown"}.
-- A job of another owner is "unknown": its existence is not revealed.
local job = redis.call('HMGET', KEYS[2], 'status', 'owner', 'ticket', 'channel')
if not job[1] or job[2] ~= ARGV[2] then
  return {'unknown'}
end
if job[1] ~= 'waiting' then
  return {'not_waiting', job[1]}
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[2], 'status', 'cancelled', 'finished', tostring(now))
redis.call('HDEL', KEYS[2], 'inputs')
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('SREM', ARGV[4] .. 'owner:' .. job[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'cancelled', 1)
return {'cancelled', job[3], redis.call('INCR', ARGV[4] .. 'seq'), job[4] or ''}
