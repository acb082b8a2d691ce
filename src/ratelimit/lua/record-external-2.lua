--[[
  Records use the budget did not grant (another client of the same
  organization, seen in the rate-limit headers; 429s) as one log entry,
  stamped so that it leaves the window ttl ms from now.

  Input:
    KEYS[1] log (zset: member "<id>|<tokens>", score ms)
    KEYS[2] token sum of the log (string)

    ARGV[1] entry id
    ARGV[2] tokens
    ARGV[3] ttl (ms, at most the window)
    ARGV[4] window (ms)

  Output:
    1
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[4])
-- Stamped so that it leaves the window after ttlMs.
local score = now - window + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], score, ARGV[1] .. '|' .. ARGV[2])
redis.call('INCRBY', KEYS[2], tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], window * 2)
redis.call('PEXPIRE', KEYS[2], window * 2)
return 1
