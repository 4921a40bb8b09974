-- The prelude of every script, loaded after the constants shared with Python (SECONDS and
-- SIZES, the histograms' bounds; WAKE_MARK_MS), by store/scripts.py: the clock, the one way
-- a job ends, and the demo's metrics, kept in Redis so every web process reports the same.

-- Redis's clock in seconds: one clock for every web process and worker.
local function clock()
  local time = redis.call('TIME')
  return tonumber(time[1]) + tonumber(time[2]) / 1000000
end

-- Count `value` in the demo's histogram `name`: one counter per bucket, and the sum.
local function observe(prefix, name, value, bounds)
  local bucket = '+Inf'
  for _, bound in ipairs(bounds) do
    if value <= bound then
      bucket = tostring(bound)
      break
    end
  end
  local histogram = prefix .. 'hist:' .. name
  redis.call('HINCRBY', histogram, bucket, 1)
  redis.call('HINCRBYFLOAT', histogram, 'sum', value)
end

-- Add to the demo's counters of this minute ({field = amount, ...}), kept two hours for the
-- dashboard's charts. A script calls it once, with everything it counted.
local function per_minute(prefix, now, amounts)
  local minute = prefix .. 'minute:' .. math.floor(now / 60)
  for field, amount in pairs(amounts) do
    if amount ~= 0 then
      redis.call('HINCRBYFLOAT', minute, field, amount)
    end
  end
  redis.call('EXPIRE', minute, 7200)
end

-- End a job, whatever ended it: its status ("completed", "failed", "expired", "cancelled")
-- and outcome (`field` "outputs" or "error", or nil) are recorded and kept `keep` seconds,
-- it leaves its owner's active jobs, it is counted in the stats hash, and it goes into the
-- outbox (job id -> time) until its visitor has been told; a sweeper delivers what is left.
-- The caller has taken it out of the waiting or running set.
local function end_job(prefix, stats_key, job_key, id, status, field, value, now, keep)
  local owner = redis.call('HGET', job_key, 'owner')
  redis.call('HSET', job_key, 'status', status, 'finished', tostring(now))
  if field then
    redis.call('HSET', job_key, field, value)
  end
  redis.call('HDEL', job_key, 'inputs', 'progress', 'partial', 'eta_at')
  redis.call('EXPIRE', job_key, keep)
  if owner then
    redis.call('SREM', prefix .. 'owner:' .. owner, id)
  end
  redis.call('HINCRBY', stats_key, status, 1)
  redis.call('ZADD', prefix .. 'outbox', now, id)
end
