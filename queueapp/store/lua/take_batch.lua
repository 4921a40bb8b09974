-- Take the next batch of a demo's line for a worker, holding one concurrency slot.
-- A worker keeps its slot from batch to batch while jobs wait. When the line is empty it may
-- linger: keep the slot for a moment, marked idle, and wait for the line's bell, which a join
-- rings instead of waking a new worker. Otherwise the slot is released in this same step, so
-- a job that joins afterwards sees a free slot and wakes a worker (no lost wakeup).
-- The jobs of the batch are declared: the caller reads the head of the line first and names
-- it (KEYS[14..], ARGV[4..]), as many jobs as `concurrency` batches hold, so that workers
-- taking batches at the same time all find theirs among the jobs they named. When the
-- batch's jobs are not all among them, {"retry", how many} asks the caller to read again.
-- KEYS[1] config hash   KEYS[2] waiting zset   KEYS[3] slots zset   KEYS[4] running zset
-- KEYS[5] stats hash   KEYS[6] detached zset   KEYS[7] idle set (slot tokens)
-- KEYS[8] wake-up mark   KEYS[9] the line's seq   KEYS[10] recent waits list
-- KEYS[11] recent ETA errors list   KEYS[12] histograms hash   KEYS[13] minutes hash
-- KEYS[14..] the hashes of the jobs at the head of the line, in order
-- ARGV[1] slot token   ARGV[2] slot lease seconds
-- ARGV[3] seconds to linger on an empty line (0: release the slot)   ARGV[4..] those jobs' ids
-- Returns {"empty"} | {"idle"} | {"busy"} | {"paused"}
--      | {"wait", milliseconds, how many jobs of the head to name next time}
--      | {"retry", how many jobs of the head to name}
--      | {"batch", function, line seq, avg run, avg batch, how many jobs, then per job: id,
--         ticket, channel, inputs; then the head of the line that is left, to name next time}.
-- The line's seq counts the changes that move waiting jobs; broadcasts carry it.
local now = clock()
local cfg = redis.call('HMGET', KEYS[1], 'concurrency', 'batch', 'max_batch_size',
  'batch_wait_ms', 'function', 'timeout', 'paused')
if not cfg[1] or not cfg[5] then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {'empty'}
end
if cfg[7] == '1' then
  -- Paused by an admin: the line keeps its jobs, and no batch starts until it resumes.
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('SREM', KEYS[7], ARGV[1])
  return {'paused'}
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('DEL', KEYS[8])
local held = redis.call('ZSCORE', KEYS[3], ARGV[1])
local waiting = redis.call('ZCARD', KEYS[2])
if waiting == 0 then
  local linger = tonumber(ARGV[3])
  if held and linger > 0 then
    -- A short lease: a worker that dies while idle frees its slot soon.
    redis.call('ZADD', KEYS[3], now + 2 * linger + 1, ARGV[1])
    redis.call('SADD', KEYS[7], ARGV[1])
    return {'idle'}
  end
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('SREM', KEYS[7], ARGV[1])
  return {'empty'}
end
local slots = redis.call('ZCARD', KEYS[3])
if held then
  -- The admin may have lowered the concurrency: give back slots above the new limit.
  if slots > tonumber(cfg[1]) then
    redis.call('ZREM', KEYS[3], ARGV[1])
    redis.call('SREM', KEYS[7], ARGV[1])
    return {'busy'}
  end
elseif slots >= tonumber(cfg[1]) then
  return {'busy'}
end

local size = 1
if cfg[2] == '1' then
  size = tonumber(cfg[3])
end
-- The batch: the head of the line, if the caller named every job of it.
local named = {}
for i = 4, #ARGV do
  named[ARGV[i]] = KEYS[i + 10]
end
local window = size * math.max(tonumber(cfg[1]), 1)
local ids = redis.call('ZRANGE', KEYS[2], 0, size - 1)
for _, id in ipairs(ids) do
  if not named[id] then
    return {'retry', window}
  end
end
local wait_ms = tonumber(cfg[4])
if size > 1 and waiting < size and wait_ms > 0 then
  local created = tonumber(redis.call('HGET', named[ids[1]], 'created') or now)
  local left = created + wait_ms / 1000 - now
  if left > 0 then
    -- Marked idle, so the join that fills the batch rings the bell: it starts at once. The
    -- lease outlasts the wait by a second at most: a worker that dies waiting frees it soon.
    redis.call('ZADD', KEYS[3], now + math.min(left + 1, tonumber(ARGV[2])), ARGV[1])
    redis.call('SADD', KEYS[7], ARGV[1])
    return {'wait', math.ceil(left * 1000), window}
  end
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
redis.call('SREM', KEYS[7], ARGV[1])

redis.call('ZREM', KEYS[2], unpack(ids))
redis.call('ZREM', KEYS[6], unpack(ids))
local stats = redis.call('HMGET', KEYS[5], 'avg_run', 'avg_batch')
local reply = {'batch', cfg[5], redis.call('INCR', KEYS[9]), stats[1] or '', stats[2] or '', 0}
local deadline = now + tonumber(cfg[6])
local started = {started = 0, wait_sum = 0}
-- What the batch's jobs add to the line's records, written once for the batch below.
local running, waits, eta_errors, seen, by_lane = {}, {}, {}, {}, {}
for _, id in ipairs(ids) do
  local key = named[id]
  local job = redis.call('HMGET', key, 'ticket', 'channel', 'inputs', 'created', 'eta_at', 'lane')
  if job[1] then
    redis.call('HSET', key, 'status', 'running', 'started', tostring(now), 'slot', ARGV[1],
      'batch', #ids)
    redis.call('HINCRBY', key, 'attempts', 1)
    table.insert(running, deadline)
    table.insert(running, id)
    local wait = now - tonumber(job[4])
    table.insert(waits, tostring(wait))
    tally(seen, 'wait', wait, SECONDS)
    -- The same, by lane: "<counter>@<lane>".
    local lane = job[6] or 'default'
    tally(seen, 'wait@' .. lane, wait, SECONDS)
    by_lane['started@' .. lane] = (by_lane['started@' .. lane] or 0) + 1
    started.started = started.started + 1
    started.wait_sum = started.wait_sum + wait
    if job[5] then
      table.insert(eta_errors, tostring(now - tonumber(job[5])))
      tally(seen, 'eta_error', math.abs(now - tonumber(job[5])), SECONDS)
      redis.call('HDEL', key, 'eta_at')
    end
    table.insert(reply, id)
    table.insert(reply, job[1])
    table.insert(reply, job[2])
    table.insert(reply, job[3])
    reply[6] = reply[6] + 1
  end
end
if #running > 0 then
  redis.call('ZADD', KEYS[4], unpack(running))
  redis.call('LPUSH', KEYS[10], unpack(waits))
  record(KEYS[12], seen)
end
if #eta_errors > 0 then
  redis.call('LPUSH', KEYS[11], unpack(eta_errors))
end
for field, count in pairs(by_lane) do
  redis.call('HINCRBY', KEYS[5], field, count)
  started[field] = count
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, window - 1)) do
  table.insert(reply, id)
end
per_minute(KEYS[13], now, started)
redis.call('LTRIM', KEYS[10], 0, 999)
redis.call('LTRIM', KEYS[11], 0, 999)
return reply
