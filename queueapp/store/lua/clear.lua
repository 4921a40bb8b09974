-- Clear a demo's line: every waiting job ends as failed with the given error, at once.
-- KEYS[1] waiting zset   KEYS[2] detached zset   KEYS[3] stats hash
-- ARGV[1] the demo's key prefix   ARGV[2] the error (JSON)   ARGV[3] seconds to keep the records
-- Returns {line seq, then per cleared job three values: id, ticket, reply channel}.
local now = clock()
local reply = {0}
local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #ids, 2 do
  local id, ticket = ids[i], ids[i + 1]
  local key = ARGV[1] .. 'job:' .. id
  local channel = redis.call('HGET', key, 'channel')
  end_job(ARGV[1], KEYS[3], key, id, 'failed', 'error', ARGV[2], now, ARGV[3])
  for _, value in ipairs({id, ticket, channel or ''}) do
    table.insert(reply, value)
  end
end
if #ids > 0 then
  redis.call('DEL', KEYS[1])
  redis.call('DEL', KEYS[2])
  redis.call('HINCRBY', KEYS[3], 'cleared', #ids / 2)
  reply[1] = redis.call('INCR', ARGV[1] .. 'seq')
else
  reply[1] = redis.call('GET', ARGV[1] .. 'seq') or 0
end
return reply
