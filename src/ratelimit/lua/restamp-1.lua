--[[
  Moves a reservation to when the API counted it, at the latest:
  now - backdate, where the caller passes the server's own processing time
  (`openai-processing-ms`), so that the budget frees its tokens no earlier
  than the API does (the API counts a request on arrival, after it was
  reserved and before it answered). Never moves it earlier than it was, and
  does nothing for a reservation that already left the log.

  Input:
    KEYS[1] log (zset: member "<id>|<tokens>", score ms)

    ARGV[1] member ("<id>|<tokens>")
    ARGV[2] backdate (ms)

  Output:
    0 (ZADD XX without CH counts added members, and it adds none; the
    caller does not use the reply)
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
local stamp = now - tonumber(ARGV[2])
if stamp <= tonumber(score) then return 0 end
return redis.call('ZADD', KEYS[1], 'XX', stamp, ARGV[1])
