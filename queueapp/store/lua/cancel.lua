-- Cancel a waiting job for its owner.
-- KEYS[1] waiting zset   KEYS[2] the job's hash   KEYS[3] stats hash   KEYS[4] detached zset
-- KEYS[5] outbox zset   KEYS[6] active hash   KEYS[7] the line's seq
-- ARGV[1] job id   ARGV[2] owner   ARGV[3] seconds to keep the cancelled job
-- Returns {"cancelled", ticket, line seq, reply channel} | {"not_waiting", status} | {"unknown"}.
-- A job of another owner is "unknown": its existence is not revealed. Like every ending, a
-- cancellation goes into the outbox until the canceller has told the job's visitor.
local job = redis.call('HMGET', KEYS[2], 'status', 'owner', 'ticket', 'channel')
if not job[1] or job[2] ~= ARGV[2] then
  return {'unknown'}
end
if job[1] ~= 'waiting' then
  return {'not_waiting', job[1]}
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
local line = {stats = KEYS[3], active = KEYS[6], outbox = KEYS[5]}
end_job(line, KEYS[2], ARGV[1], 'cancelled', nil, nil, clock(), ARGV[3])
return {'cancelled', job[3], redis.call('INCR', KEYS[7]), job[4] or ''}
