-- A connection closed: its waiting jobs keep their place for a grace period, then expire
-- unless their owner comes back. Only jobs whose updates still go to that connection: one
-- that another connection of its owner has resumed since (a refresh the server noticed late,
-- a duplicated tab) is left alone.
-- KEYS[1] detached zset (job id -> reconnect deadline)   KEYS[2..] the jobs' hashes
-- ARGV[1] grace seconds   ARGV[2] the closed connection's reply channel   ARGV[3..] job ids
local deadline = clock() + tonumber(ARGV[1])
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], 'channel') == ARGV[2] then
    redis.call('ZADD', KEYS[1], deadline, ARGV[i + 1])
  end
end
return 0
