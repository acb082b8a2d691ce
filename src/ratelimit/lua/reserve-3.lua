--[[
  Reserves budget for waiting requests in one run, oldest first: removes the
  reservations that left the sliding window, then grants every request that
  fits the requests and tokens left in it (first fit), or with strict = 1
  only the prefix that fits, so that none overtakes the first. A limit the
  API reported lower than the configured one (KEYS[3]) wins. For the request
  that did not fit (strict: the first refused; else the smallest) it walks
  the log from the oldest entry to say when enough leaves the window.
  Times are on the Redis clock (TIME), shared by every process.

  Input:
    KEYS[1] log (zset: member "<id>|<tokens>", score ms)
    KEYS[2] token sum of the log (string)
    KEYS[3] limit overrides (hash: rpm, tpm)

    ARGV[1] requests per window
    ARGV[2] tokens per window
    ARGV[3] window (ms)
    ARGV[4] strict (1|0)
    ARGV[5..] one (id, tokens) pair per request, oldest first

  Output:
    {waitMs until the next grant can happen (0 when nothing is left
    waiting), the token limit in force, then the 1-based positions of the
    granted requests, and negated those of requests larger than the whole
    window}
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local o_rpm = tonumber(redis.call('HGET', KEYS[3], 'rpm') or '')
local o_tpm = tonumber(redis.call('HGET', KEYS[3], 'tpm') or '')
if o_rpm and o_rpm < rpm then rpm = o_rpm end
if o_tpm and o_tpm < tpm then tpm = o_tpm end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
local sum = tonumber(redis.call('GET', KEYS[2]) or '0')
for _, m in ipairs(expired) do
  sum = sum - tonumber(string.match(m, '|(%d+)$'))
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window) end
if sum < 0 then sum = 0 end
local count = redis.call('ZCARD', KEYS[1])
local strict = ARGV[4] == '1'
local result = {0, tpm}
-- The request to compute the wait for: the first refused when strict,
-- else the smallest refused (the first that can use freed capacity).
local tokens = nil
for i = 5, #ARGV, 2 do
  local t = tonumber(ARGV[i + 1])
  local pos = (i - 3) / 2
  if t > tpm then
    table.insert(result, -pos)
  elseif count + 1 <= rpm and sum + t <= tpm then
    redis.call('ZADD', KEYS[1], now, ARGV[i] .. '|' .. ARGV[i + 1])
    sum = sum + t
    count = count + 1
    table.insert(result, pos)
  else
    if not tokens or (not strict and t < tokens) then tokens = t end
    if strict or count + 1 > rpm then break end
  end
end
redis.call('SET', KEYS[2], sum)
redis.call('PEXPIRE', KEYS[2], window * 2)
redis.call('PEXPIRE', KEYS[1], window * 2)
if not tokens then return result end
-- Walk the log from the oldest entry until enough leaves the window for the next request.
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local freed = 0
local n = 0
for i = 1, #entries, 2 do
  freed = freed + tonumber(string.match(entries[i], '|(%d+)$'))
  n = n + 1
  if sum - freed + tokens <= tpm and count - n + 1 <= rpm then
    result[1] = math.max(1, tonumber(entries[i + 1]) + window - now + 1)
    return result
  end
end
result[1] = window
return result
