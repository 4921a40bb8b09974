-- Keep the latest live state (progress, or a partial output) of running jobs, and say
-- where each job's visitor listens now: a refresh may have moved it to a new channel.
-- KEYS: the jobs' hashes   ARGV[1] field ("progress", "partial" or "logs")
-- ARGV[2..] one value per job
-- Returns one reply channel per job; "" for a job that no longer runs.
local channels = {}
for i, job in ipairs(KEYS) do
  local state = redis.call('HMGET', job, 'status', 'channel')
  if state[1] == 'running' then
    redis.call('HSET', job, ARGV[1], ARGV[i + 1])
    channels[i] = state[2] or ''
  else
    channels[i] = ''
  end
end
return channels
