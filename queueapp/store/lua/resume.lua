-- Hand a job's updates to a new connection of its owner, and say where the job stands.
-- KEYS[1] waiting zset   KEYS[2] the job's hash   KEYS[3] detached zset   KEYS[4] the line's seq
-- ARGV[1] job id   ARGV[2] owner   ARGV[3] the new reply channel
-- Returns {"unknown"} or
-- {status, ticket, rank or -1, outputs, error, line seq, latest progress, latest partial output}.
local job = redis.call(
  'HMGET', KEYS[2], 'status', 'owner', 'ticket', 'outputs', 'error', 'progress', 'partial')
if not job[1] or job[2] ~= ARGV[2] then
  return {'unknown'}
end
redis.call('HSET', KEYS[2], 'channel', ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[1])
local rank = redis.call('ZRANK', KEYS[1], ARGV[1]) or -1
local seq = redis.call('GET', KEYS[4]) or '0'
return {job[1], job[3], rank, job[4] or '', job[5] or '', seq, job[6] or '', job[7] or ''}
