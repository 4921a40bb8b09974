-- Prepended to every script when it is loaded (store.py): the demo's metrics, kept in Redis
-- so every web process reports the same numbers.
local SECONDS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
local SIZES = {1, 2, 4, 8, 16, 32, 64, 128}

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

