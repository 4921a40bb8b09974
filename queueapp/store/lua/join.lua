-- Admit a job to a demo's line, or refuse it, in one atomic step.
-- The job's ticket is its place in the line. Each lane (a tier of visitors) has a clock that
-- a job moves by the lane's step (the lighter the lane, the longer the step); a job's ticket
-- is its lane's clock, or just after the head of the line if the lane's clock is behind it.
-- Lanes thus take turns in proportion to their weights while they have jobs waiting, first
-- come first served within each, and a job may be placed ahead of jobs of lighter lanes:
-- the line's seq then counts a change (docs/architecture.md, "Lanes").
-- KEYS[1] config hash   KEYS[2] waiting zset (job id -> ticket)
-- KEYS[3] the largest ticket given so far
-- KEYS[4] the job's hash   KEYS[5] slots zset (slot token -> lease deadline)
-- KEYS[6] stats hash   KEYS[7] active hash (active jobs per owner and per address)
-- KEYS[8] the owner's join counter   KEYS[9] the address's join counter (each a minute long)
-- KEYS[10] idle set   KEYS[11] bell list   KEYS[12] wake-up mark   KEYS[13] the line's seq
-- KEYS[14] minutes hash   KEYS[15] lanes hash (lane -> its clock)
-- KEYS[16] today's usage hash (owner -> GPU seconds charged today in this line)
-- ARGV[1] job id   ARGV[2] owner   ARGV[3] reply channel   ARGV[4] inputs (JSON)
-- ARGV[5] seconds to keep the job record if it is never finished
-- ARGV[6] the largest rank whose ETA is within max_wait_seconds ("": no such limit)
-- ARGV[7] the visitor's network address ("": unknown)
-- ARGV[8] the settings version the caller checked the inputs against ("": do not check)
-- ARGV[9] the most active jobs per address   ARGV[10] the most joins a minute per owner
-- ARGV[11] the most joins a minute per address   ("" for any of these: no limit)
-- ARGV[12] jobs per wave   ARGV[13] seconds per wave: the line's pace (eta.Pace), to record
--          when the job is predicted to start ("": no prediction)
-- ARGV[14] the job's lane   ARGV[15] the lane's step
-- ARGV[16] the most active jobs per owner in the lane ("": the demo's own limit)
-- ARGV[17] the GPU seconds the owner may still use today in this line ("": no quota)
-- ARGV[18] the seconds one job is expected to take (its share of a batch)
-- ARGV[19] "1" where the site has tiers (other lanes), else ""
-- Returns {"ok", ticket, rank, wake (1: wake a worker of the pool), avg run seconds,
--          avg batch size, now, line seq, how many waiting jobs it was placed ahead of,
--          its ETA in seconds ("" without a pace), how many jobs other lanes may still
--          place ahead of it, and their arrival rate (joins a second)}
--      or {"full", waiting, avg run, avg batch} | {"too_long", rank, avg run, avg batch}
--      | {"owner_limit", active, avg run, avg batch} | {"address_limit", active, ...}
--      | {"rate_limit", seconds until its minute ends, ...}
--      | {"quota", GPU seconds left to the owner today, ...} | {"disabled"} | {"no_config"}
--      | {"stale"} (the settings changed since the caller read them: read them again).
local now = clock()
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'no_config'}
end
local cfg = redis.call('HMGET', KEYS[1], 'enabled', 'max_size', 'concurrency', 'max_per_owner', 'version',
  'batch', 'max_batch_size', 'batch_wait_ms')
if ARGV[8] ~= '' and (cfg[5] or '0') ~= ARGV[8] then
  return {'stale'}
end
if cfg[1] ~= '1' then
  return {'disabled'}
end
local stats = redis.call('HMGET', KEYS[6], 'avg_run', 'avg_batch')

local function refuse(reason, detail)
  redis.call('HINCRBY', KEYS[6], 'rejected_' .. reason, 1)
  redis.call('HINCRBY', KEYS[6], 'rejected@' .. ARGV[14], 1)
  per_minute(KEYS[14], now, {rejected = 1})
  return {reason, detail, stats[1] or '', stats[2] or ''}
end

-- Joins in the counter's minute, counted whether or not they are admitted.
local rate_limits = {{KEYS[8], tonumber(ARGV[10])}, {KEYS[9], tonumber(ARGV[11])}}
for _, rate in ipairs(rate_limits) do
  if rate[2] then
    local count = redis.call('INCR', rate[1])
    if count == 1 then
      redis.call('EXPIRE', rate[1], 60)
    end
    if count > rate[2] then
      return refuse('rate_limit', math.max(1, redis.call('TTL', rate[1])))
    end
  end
end

-- Active jobs (waiting or running) of the owner and of the address: end_job counts them down.
local owner_limit = tonumber(cfg[4] or '')
local lane_limit = tonumber(ARGV[16])
if lane_limit and (not owner_limit or lane_limit < owner_limit) then
  owner_limit = lane_limit
end
local active_limits = {{'owner:' .. ARGV[2], owner_limit, 'owner_limit'}}
if ARGV[7] ~= '' then
  table.insert(active_limits, {'address:' .. ARGV[7], tonumber(ARGV[9]), 'address_limit'})
end
for _, active in ipairs(active_limits) do
  if active[2] then
    local count = tonumber(redis.call('HGET', KEYS[7], active[1]) or '0')
    if count >= active[2] then
      return refuse(active[3], count)
    end
  end
end

-- The owner's quota: what they used today, and what their jobs in the line will use, leave
-- room for this job.
local budget = tonumber(ARGV[17])
if budget then
  local job_seconds = tonumber(ARGV[18])
  local used = tonumber(redis.call('HGET', KEYS[16], ARGV[2]) or '0')
  local pending = tonumber(redis.call('HGET', KEYS[7], 'owner:' .. ARGV[2]) or '0')
  local left = budget - used - pending * job_seconds
  if left < job_seconds then
    return refuse('quota', math.max(0, math.floor(left)))
  end
end

local waiting = redis.call('ZCARD', KEYS[2])
if cfg[2] ~= '' and waiting >= tonumber(cfg[2]) then
  return refuse('full', waiting)
end
-- The line's clock is the head of the line's ticket; with no one waiting, the last ticket.
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local clock = tonumber(redis.call('HGET', KEYS[15], ARGV[14]) or '0')
local ticket = math.max(tonumber(head[2] or last) + 1, clock)
-- Two waiting jobs never share a ticket (lanes whose clocks meet, two idle lanes placed just
-- after the head): the next free one, a tick later, is as good a place.
while redis.call('ZCOUNT', KEYS[2], ticket, ticket) > 0 do
  ticket = ticket + 1
end
local rank = redis.call('ZCOUNT', KEYS[2], '-inf', string.format('(%d', ticket))
local max_rank = tonumber(ARGV[6])
if max_rank and rank > max_rank then
  return refuse('too_long', rank)
end

redis.call('HSET', KEYS[15], ARGV[14], string.format('%d', ticket + tonumber(ARGV[15])))

-- Other lanes may still place jobs ahead of this one while it waits: each at most one per
-- step of its clock between the head of the line and this job's ticket ("room"), and in
-- expectation as many as it sends meanwhile. A lane's arrival rate is a moving average over
-- RATE_SECONDS: its joins, each counted less as it ages, over the time they span (so a lane
-- that has just started sending is not taken for a slow one). The lanes hash keeps, as
-- "pace@<lane>", the lane's aged count, when it was aged, since when it counts, its step.
local others, room, rate = {}, 0, 0
-- Only where the site has tiers: with one lane, nothing can be placed ahead of a job.
if ARGV[19] == '1' then
  local RATE_SECONDS = 30
  local clocks, paces = {}, {}
  local fields = redis.call('HGETALL', KEYS[15])
  for i = 1, #fields, 2 do
    local lane = string.match(fields[i], '^pace@(.+)$')
    if lane then
      local count, at, since, step = string.match(fields[i + 1], '^(%S+) (%S+) (%S+) (%S+)$')
      count = tonumber(count) * math.exp((tonumber(at) - now) / RATE_SECONDS)
      local span = RATE_SECONDS * (1 - math.exp(-math.max(now - tonumber(since), 0.1) / RATE_SECONDS))
      paces[lane] = {count = count, rate = count / span, since = tonumber(since), step = tonumber(step)}
    else
      clocks[fields[i]] = tonumber(fields[i + 1])
    end
  end
  local new_head = ticket
  if head[2] then
    new_head = math.min(tonumber(head[2]), ticket)
  end
  for lane, pace in pairs(paces) do
    if lane ~= ARGV[14] then
      local slots = math.ceil((ticket - math.max(new_head + 1, clocks[lane] or 0)) / pace.step)
      if slots > 0 then
        table.insert(others, {slots, pace.rate})
        room, rate = room + slots, rate + pace.rate
      end
    end
  end
  local own = paces[ARGV[14]] or {count = 0, since = now}
  if own.count < 0.01 then
    own.since = now  -- back after a long pause: count from now
  end
  redis.call('HSET', KEYS[15], 'pace@' .. ARGV[14],
    string.format('%.9f %.6f %.6f %d', own.count + 1, now, own.since, tonumber(ARGV[15])))
end

if ticket > last then
  redis.call('SET', KEYS[3], string.format('%d', ticket))
end
redis.call('HSET', KEYS[4], 'status', 'waiting', 'ticket', string.format('%d', ticket),
  'lane', ARGV[14], 'owner', ARGV[2], 'address', ARGV[7], 'channel', ARGV[3],
  'inputs', ARGV[4], 'created', tostring(now), 'attempts', 0)
local eta = ''
if ARGV[12] ~= '' then
  -- eta.lane_eta for the job's rank and the jobs other lanes are expected to place ahead of
  -- it: what the visitor is told, kept to measure the ETA's error.
  local jobs, seconds = tonumber(ARGV[12]), tonumber(ARGV[13])
  local function wait(ahead)
    return math.ceil((ahead + 1) / jobs) * seconds
  end
  local extra = 0
  for _ = 1, 5 do
    local t = wait(rank + extra)
    extra = 0
    for _, other in ipairs(others) do
      extra = extra + math.min(other[1], other[2] * t)
    end
  end
  eta = wait(rank + extra)
  redis.call('HSET', KEYS[4], 'eta_at', tostring(now + eta))
  eta = tostring(eta)
end
redis.call('EXPIRE', KEYS[4], ARGV[5])
redis.call('ZADD', KEYS[2], string.format('%d', ticket), ARGV[1])
count_active(KEYS[7], ARGV[2], ARGV[7], 1)
redis.call('EXPIRE', KEYS[7], ARGV[5])
redis.call('HINCRBY', KEYS[6], 'admitted', 1)
redis.call('HINCRBY', KEYS[6], 'admitted@' .. ARGV[14], 1)
per_minute(KEYS[14], now, {admitted = 1})
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
local free = tonumber(cfg[3]) - redis.call('ZCARD', KEYS[5])
-- A worker lingering on this line takes the job when the bell rings (with the job's id): no
-- new worker is woken. A worker whose partial batch waits for more jobs (batch_wait_ms) is
-- rung only by the job that fills the batch.
local rings = waiting == 0 or cfg[6] ~= '1' or tonumber(cfg[8] or '0') == 0
  or waiting + 1 >= tonumber(cfg[7] or '1')
for _, token in ipairs(redis.call('SMEMBERS', KEYS[10])) do
  if redis.call('ZSCORE', KEYS[5], token) then
    if rings then
      redis.call('LPUSH', KEYS[11], ARGV[1])
      redis.call('LTRIM', KEYS[11], 0, 63)
    end
    free = 0
    break
  end
  redis.call('SREM', KEYS[10], token)
end
-- One wake-up at a time: the next batch a worker takes clears the mark.
local wake = 0
if free > 0 and redis.call('SET', KEYS[12], '1', 'NX', 'PX', WAKE_MARK_MS) then
  wake = 1
end
-- Placed ahead of others: their ranks grow, a change of the line like any other.
local ahead = waiting - rank
local seq = redis.call('GET', KEYS[13]) or '0'
if ahead > 0 then
  seq = redis.call('INCR', KEYS[13])
end
return {'ok', ticket, rank, wake, stats[1] or '', stats[2] or '', tostring(now), seq, ahead,
  eta, room, string.format('%.9f', rate)}
