-- Record the ending of each job of a batch, once: only a job that is still running under
-- this worker's slot can end here (one that was cancelled, timed out, or handed to another
-- worker after this one was presumed dead is left as it is).
-- Each job whose ending is recorded is charged, in the same step, its share of the batch's
-- run time (duration / jobs in the batch) to its owner's usage of the day: once, as its
-- ending is recorded once.
-- KEYS[1] running zset   KEYS[2] stats hash   KEYS[3] outbox zset   KEYS[4] active hash
-- KEYS[5] histograms hash   KEYS[6] minutes hash   KEYS[7] recent run times of batches of
-- this size (list)   KEYS[8] batch sizes set   KEYS[9] today's usage hash (owner -> GPU
-- seconds)   KEYS[10..] the jobs' hashes, in ARGV order
-- ARGV[1] seconds to keep finished jobs   ARGV[2] batch duration in seconds
-- ARGV[3] weight of the newest batch in the running averages (0..1)
-- ARGV[4] the worker's slot token
-- then per job, three values: id, status ("completed" or "failed"), payload (JSON)
-- Each recorded ending goes into the outbox (end_job), which the worker empties once it has
-- told the visitor; a sweeper delivers what a dead worker left there.
-- Returns one entry per job: "+" and its reply channel (empty for a job without one) when
-- its ending was recorded here, "" when it was not.
local now = clock()
local line = {stats = KEYS[2], active = KEYS[4], outbox = KEYS[3]}
local channels = {}
local ended = {completed = 0, failed = 0}
local size = #KEYS - 9
local share = tonumber(ARGV[2]) / size
-- How long the worker held the batch, from taking it to this step (its run, and the work
-- around it): what the line's pace counts, as a worker takes its next batch only then.
local held = tonumber(ARGV[2])
local ended_ids = {}
for i = 1, size do
  local job_key = KEYS[9 + i]
  local base = 5 + (i - 1) * 3
  local id, status, payload = ARGV[base], ARGV[base + 1], ARGV[base + 2]
  local job = redis.call('HMGET', job_key, 'status', 'channel', 'slot', 'owner', 'lane', 'started')
  if job[1] == 'running' and job[3] == ARGV[4] then
    held = math.max(held, now - (tonumber(job[6]) or now))
    charge(job_key, KEYS[2], KEYS[9], job[4], job[5], share)
    local field = 'outputs'
    if status ~= 'completed' then
      field = 'error'
    end
    table.insert(ended_ids, id)
    end_job(line, job_key, id, status, field, payload, now, ARGV[1])
    ended[status] = ended[status] + 1
    table.insert(channels, '+' .. (job[2] or ''))
  else
    table.insert(channels, '')
  end
end
if #ended_ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ended_ids))
end

local weight = tonumber(ARGV[3])
local stats = redis.call('HMGET', KEYS[2], 'avg_run', 'avg_batch')
local avg_run, avg_batch = held, size
if stats[1] then
  avg_run = weight * avg_run + (1 - weight) * tonumber(stats[1])
  avg_batch = weight * avg_batch + (1 - weight) * tonumber(stats[2])
end
redis.call('HSET', KEYS[2], 'avg_run', tostring(avg_run), 'avg_batch', tostring(avg_batch))
redis.call('HINCRBY', KEYS[2], 'batches', 1)
redis.call('HINCRBY', KEYS[2], 'jobs', size)
redis.call('LPUSH', KEYS[7], ARGV[2])
redis.call('LTRIM', KEYS[7], 0, 499)
redis.call('SADD', KEYS[8], size)
observe(KEYS[5], 'run', tonumber(ARGV[2]), SECONDS)
observe(KEYS[5], 'batch', size, SIZES)
redis.call('EXPIRE', KEYS[9], 2 * 86400)
ended.batches, ended.batch_jobs, ended.run_sum = 1, size, tonumber(ARGV[2])
per_minute(KEYS[6], now, ended)
return channels
