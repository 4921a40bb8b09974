-- Recover a demo's line from what went wrong: workers that died mid-batch, batches past their
-- timeout, and waiting jobs whose visitor left and did not come back in time. Jobs ended
-- here go into the outbox, like those a worker finishes. The caller names the jobs to look
-- at (the running ones, and the detached ones with the earliest deadlines); a job that
-- changed since the caller looked is left for the next sweep.
-- KEYS[1] config hash   KEYS[2] waiting zset   KEYS[3] slots zset   KEYS[4] running zset
-- KEYS[5] detached zset (job id -> reconnect deadline)   KEYS[6] stats hash
-- KEYS[7] outbox zset   KEYS[8] active hash   KEYS[9] wake-up mark   KEYS[10] the line's seq
-- KEYS[11] today's usage hash (owner -> GPU seconds)   KEYS[12..] the named jobs' hashes, in
-- ARGV order
-- ARGV[1] most attempts per job   ARGV[2] seconds to keep ended jobs
-- ARGV[3] how many of the named jobs were running   ARGV[4..] the named jobs' ids
-- Returns {wake (1: jobs wait, a slot is free and no wake-up is pending), line seq,
--          then per changed job five values:
--          what ("requeued", "failed" or "expired"), id, ticket, reply channel, error JSON}.
local now = clock()
local cfg = redis.call('HMGET', KEYS[1], 'concurrency', 'timeout', 'paused')
local line = {stats = KEYS[6], active = KEYS[8], outbox = KEYS[7]}
local changes = {}

local function note(what, id, ticket, channel, err)
  for _, value in ipairs({what, id, ticket, channel or '', err or ''}) do
    table.insert(changes, value)
  end
end

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local named_running = tonumber(ARGV[3])
for i = 12, #KEYS do
  local key, id = KEYS[i], ARGV[i - 8]
  if i - 11 <= named_running then
    local deadline = tonumber(redis.call('ZSCORE', KEYS[4], id))
    local job = redis.call('HMGET', key, 'status', 'slot', 'attempts', 'ticket', 'channel',
      'started', 'batch', 'owner', 'lane')
    if not deadline then
      -- No longer running: nothing to recover.
    elseif job[1] ~= 'running' then
      redis.call('ZREM', KEYS[4], id)
    elseif deadline < now then
      local err = cjson.encode({code = 'timeout',
        message = 'The job ran longer than its time limit of ' .. (cfg[2] or '?') .. ' s.'})
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZREM', KEYS[3], job[2])
      redis.call('HINCRBY', KEYS[6], 'timeouts', 1)
      -- Its batch held the slot until its time limit: each of its jobs is charged its share,
      -- as finish_batch.lua charges a batch that ends (which this one now will not).
      local held = math.max(deadline - (tonumber(job[6]) or deadline), 0)
      local share = held / tonumber(job[7] or '1')
      charge(key, KEYS[6], KEYS[11], job[8], job[9], share)
      end_job(line, key, id, 'failed', 'error', err, now, ARGV[2])
      note('failed', id, job[4], job[5], err)
    elseif not redis.call('ZSCORE', KEYS[3], job[2]) then
      redis.call('ZREM', KEYS[4], id)
      redis.call('HINCRBY', KEYS[6], 'workers_lost', 1)
      if tonumber(job[3]) >= tonumber(ARGV[1]) then
        local err = cjson.encode({code = 'worker_lost',
          message = 'The worker running this job stopped ' .. job[3] .. ' times; giving up.'})
        end_job(line, key, id, 'failed', 'error', err, now, ARGV[2])
        note('failed', id, job[4], job[5], err)
      else
        -- Back to its old place, its ticket (or the next free one: a job of another lane
        -- may hold it now).
        local ticket = tonumber(job[4])
        while redis.call('ZCOUNT', KEYS[2], ticket, ticket) > 0 do
          ticket = ticket + 1
        end
        ticket = string.format('%d', ticket)
        redis.call('HSET', key, 'status', 'waiting', 'ticket', ticket)
        redis.call('HDEL', key, 'slot', 'started', 'batch', 'progress', 'partial')
        redis.call('ZADD', KEYS[2], ticket, id)
        redis.call('HINCRBY', KEYS[6], 'requeued', 1)
        note('requeued', id, ticket, job[5])
      end
    end
  else
    local deadline = tonumber(redis.call('ZSCORE', KEYS[5], id))
    if deadline and deadline <= now then
      redis.call('ZREM', KEYS[5], id)
      local job = redis.call('HMGET', key, 'status', 'ticket', 'channel')
      if job[1] == 'waiting' then
        redis.call('ZREM', KEYS[2], id)
        local err = cjson.encode({code = 'expired',
          message = 'The visitor left the page and did not come back in time.'})
        end_job(line, key, id, 'expired', 'error', err, now, ARGV[2])
        note('expired', id, job[2], job[3], err)
      end
    end
  end
end

local free = tonumber(cfg[1] or '0') - redis.call('ZCARD', KEYS[3])
local wake = 0
if free > 0 and cfg[3] ~= '1' and redis.call('ZCARD', KEYS[2]) > 0
    and redis.call('SET', KEYS[9], '1', 'NX', 'PX', WAKE_MARK_MS) then
  wake = 1
end
local seq = redis.call('GET', KEYS[10]) or '0'
if #changes > 0 then
  seq = redis.call('INCR', KEYS[10])
end
local reply = {wake, seq}
for _, value in ipairs(changes) do
  table.insert(reply, value)
end
return reply
