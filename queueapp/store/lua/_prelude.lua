-- The prelude of every script, loaded after the constants shared with Python (SECONDS and
-- SIZES, the histograms' bounds; WAKE_MARK_MS), by store/scripts.py: the clock, the one way
-- a job ends, and the demo's metrics, kept in Redis so every web process reports the same.
-- Like the scripts, these helpers touch only keys the script was given in KEYS.

-- Redis's clock in seconds: one clock for every web process and worker.
local function clock()
  local time = redis.call('TIME')
  return tonumber(time[1]) + tonumber(time[2]) / 1000000
end

-- Count `value` in the histogram `name`, in the demo's histograms hash: a counter per
-- bucket ("<name>:<bound>") and the sum ("<name>:sum"). `tally` adds it to `seen` (a
-- table of fields), which `record` writes in one command a field, for a script that
-- observes many values; `observe` writes one value at once.
local function tally(seen, name, value, bounds)
  local bucket = '+Inf'
  for _, bound in ipairs(bounds) do
    if value <= bound then
      bucket = tostring(bound)
      break
    end
  end
  local field = name .. ':' .. bucket
  seen[field] = (seen[field] or 0) + 1
  seen[name .. ':sum'] = (seen[name .. ':sum'] or 0) + value
end

local function record(hist_key, seen)
  for field, amount in pairs(seen) do
    if string.sub(field, -4) == ':sum' then
      redis.call('HINCRBYFLOAT', hist_key, field, amount)
    else
      redis.call('HINCRBY', hist_key, field, amount)
    end
  end
end

local function observe(hist_key, name, value, bounds)
  local seen = {}
  tally(seen, name, value, bounds)
  record(hist_key, seen)
end

-- Add to the demo's counters of this minute ({field = amount, ...}), fields "<minute>:<field>"
-- of its minutes hash, kept two hours for the dashboard's charts: the first count of each
-- minute drops the fields of minutes older than that. A script calls it once.
local MINUTES_KEPT = 120
local function per_minute(minutes_key, now, amounts)
  local minute = math.floor(now / 60)
  for field, amount in pairs(amounts) do
    if amount ~= 0 then
      redis.call('HINCRBYFLOAT', minutes_key, minute .. ':' .. field, amount)
    end
  end
  if tonumber(redis.call('HGET', minutes_key, 'pruned') or '0') < minute then
    redis.call('HSET', minutes_key, 'pruned', minute)
    for _, field in ipairs(redis.call('HKEYS', minutes_key)) do
      local at = tonumber(string.match(field, '^(%d+):'))
      if at and at <= minute - MINUTES_KEPT then
        redis.call('HDEL', minutes_key, field)
      end
    end
  end
  redis.call('EXPIRE', minutes_key, MINUTES_KEPT * 60)
end

-- Add `by` to the active jobs of a visitor and of their network address (fields
-- "owner:<owner>" and "address:<address>" of the demo's active hash; none for an unknown
-- address). A field that reaches 0 goes.
local function count_active(active_key, owner, address, by)
  local fields = {'owner:' .. owner}
  if address and address ~= '' then
    table.insert(fields, 'address:' .. address)
  end
  for _, field in ipairs(fields) do
    if redis.call('HINCRBY', active_key, field, by) <= 0 then
      redis.call('HDEL', active_key, field)
    end
  end
end

-- Charge a job `share` GPU seconds, once, as its ending is recorded: on the job, its lane's
-- total in the stats hash, and its owner's usage of the day (when it has an owner).
local function charge(job_key, stats_key, usage_key, owner, lane, share)
  redis.call('HSET', job_key, 'charged', tostring(share))
  redis.call('HINCRBYFLOAT', stats_key, 'charged@' .. (lane or 'default'), share)
  if owner then
    redis.call('HINCRBYFLOAT', usage_key, owner, share)
  end
end

-- End a job, whatever ended it: its status ("completed", "failed", "expired", "cancelled")
-- and outcome (`field` "outputs" or "error", or nil) are recorded and kept `keep` seconds,
-- it stops counting as its visitor's active job, it is counted in the stats hash, and it
-- goes into the outbox (job id -> time) until its visitor has been told; a sweeper delivers
-- what is left there. `line` holds the keys this needs: {stats, active, outbox}. The caller
-- has taken the job out of the waiting or running set.
local function end_job(line, job_key, id, status, field, value, now, keep)
  local job = redis.call('HMGET', job_key, 'owner', 'address')
  redis.call('HSET', job_key, 'status', status, 'finished', tostring(now))
  if field then
    redis.call('HSET', job_key, field, value)
  end
  redis.call('HDEL', job_key, 'inputs', 'progress', 'partial', 'eta_at')
  redis.call('EXPIRE', job_key, keep)
  if job[1] then
    count_active(line.active, job[1], job[2], -1)
  end
  redis.call('HINCRBY', line.stats, status, 1)
  redis.call('ZADD', line.outbox, now, id)
end
