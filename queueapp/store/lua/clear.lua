-- Clear a demo's line: the jobs the caller found waiting (and declared) end as failed with the
-- given error, at once. A job that joined after the caller looked stays in the line.
-- KEYS[1] waiting zset   KEYS[2] detached zset   KEYS[3] stats hash   KEYS[4] outbox zset
-- KEYS[5] active hash   KEYS[6] the line's seq   KEYS[7..] the jobs' hashes, in ARGV order
-- ARGV[1] the error (JSON)   ARGV[2] seconds to keep the records   ARGV[3..] the jobs' ids
-- Returns {line seq, then per cleared job three values: id, ticket, reply channel}.
local now = clock()
local line = {stats = KEYS[3], active = KEYS[5], outbox = KEYS[4]}
local reply = {0}
local cleared = 0
for i = 7, #KEYS do
  local id = ARGV[i - 4]
  local ticket = redis.call('ZSCORE', KEYS[1], id)
  if ticket then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    local channel = redis.call('HGET', KEYS[i], 'channel')
    end_job(line, KEYS[i], id, 'failed', 'error', ARGV[1], now, ARGV[2])
    cleared = cleared + 1
    for _, value in ipairs({id, ticket, channel or ''}) do
      table.insert(reply, value)
    end
  end
end
if cleared > 0 then
  redis.call('HINCRBY', KEYS[3], 'cleared', cleared)
  reply[1] = redis.call('INCR', KEYS[6])
else
  reply[1] = redis.call('GET', KEYS[6]) or 0
end
return reply
