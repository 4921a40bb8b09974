-- Recover a demo's line from what went wrong: workers that died mid-batch, batches past their
-- timeout, and waiting jobs whose visitor left and did not come back in time. Jobs ended
-- here go into the outbox, like those a worker finishes.
-- KEYS[1] config hash   KEYS[2] waiting zset   KEYS[3] slots zset   KEYS[4] running zset
-- KEYS[5] detached zset (job id -> reconnect deadline)   KEYS[6] stats hash
-- ARGV[1] the demo's key prefix   ARGV[2] most attempts per job   ARGV[3] seconds to keep ended jobs
-- Returns {wake (1: jobs wait, a slot is free and no wake-up is pending), line seq,
--          then per changed job five values:
--          what ("requeued", "failed" or "expired"), id, ticket, reply channel, error JSON}.
local now = clock()
local cfg = redis.call('HMGET', KEYS[1], 'concurrency', 'timeout', 'paused')
local changes = {}

local function note(what, id, ticket, channel, err)
  for _, value in ipairs({what, id, ticket, channel or '', err or ''}) do
    table.insert(changes, value)
  end
end

local function forget(key, id, status, err)
  end_job(ARGV[1], KEYS[6], key, id, status, 'error', err, now, ARGV[3])
end

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local running = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
for i = 1, #running, 2 do
  local id, deadline = running[i], tonumber(running[i + 1])
  local key = ARGV[1] .. 'job:' .. id
  local job = redis.call('HMGET', key, 'status', 'slot', 'attempts', 'ticket', 'channel')
  if job[1] ~= 'running' then
    redis.call('ZREM', KEYS[4], id)
  elseif deadline < now then
    local err = cjson.encode({code = 'timeout',
      message = 'The job ran longer than its time limit of ' .. (cfg[2] or '?') .. ' s.'})
    redis.call('ZREM', KEYS[4], id)
    redis.call('ZREM', KEYS[3], job[2])
    redis.call('HINCRBY', KEYS[6], 'timeouts', 1)
    forget(key, id, 'failed', err)
    note('failed', id, job[4], job[5], err)
  elseif not redis.call('ZSCORE', KEYS[3], job[2]) then
    redis.call('ZREM', KEYS[4], id)
    redis.call('HINCRBY', KEYS[6], 'workers_lost', 1)
    if tonumber(job[3]) >= tonumber(ARGV[2]) then
      local err = cjson.encode({code = 'worker_lost',
        message = 'The worker running this job stopped ' .. job[3] .. ' times; giving up.'})
      forget(key, id, 'failed', err)
      note('failed', id, job[4], job[5], err)
    else
      -- Back to its old place: its ticket is older than every job still waiting.
      redis.call('HSET', key, 'status', 'waiting')
      redis.call('HDEL', key, 'slot', 'started', 'progress', 'partial')
      redis.call('ZADD', KEYS[2], job[4], id)
      redis.call('HINCRBY', KEYS[6], 'requeued', 1)
      note('requeued', id, job[4], job[5])
    end
  end
end

local gone = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
for _, id in ipairs(gone) do
  redis.call('ZREM', KEYS[5], id)
  local key = ARGV[1] .. 'job:' .. id
  local job = redis.call('HMGET', key, 'status', 'ticket', 'channel')
  if job[1] == 'waiting' then
    redis.call('ZREM', KEYS[2], id)
    local err = cjson.encode({code = 'expired',
      message = 'The visitor left the page and did not come back in time.'})
    forget(key, id, 'expired', err)
    note('expired', id, job[2], job[3], err)
  end
end

local free = tonumber(cfg[1] or '0') - redis.call('ZCARD', KEYS[3])
local wake = 0
if free > 0 and cfg[3] ~= '1' and redis.call('ZCARD', KEYS[2]) > 0
    and redis.call('SET', ARGV[1] .. 'woken', '1', 'NX', 'PX', WAKE_MARK_MS) then
  wake = 1
end
local seq = redis.call('GET', ARGV[1] .. 'seq') or '0'
if #changes > 0 then
  seq = redis.call('INCR', ARGV[1] .. 'seq')
end
local reply = {wake, seq}
for _, value in ipairs(changes) do
  table.insert(reply, value)
end
return reply
