-- Claim the endings left in a line's outbox for longer than a sweeper waits for their
-- sender: each claimed ending's time moves to now, so a sweeper running at the same moment
-- does not send it as well. One claimed and not cleared is claimed again after the wait.
-- KEYS[1] outbox zset (job id -> time)   ARGV[1] seconds an ending is left to its sender
-- Returns the claimed jobs' ids, oldest first.
local now = clock()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], 'XX', now, id)
end
return ids
