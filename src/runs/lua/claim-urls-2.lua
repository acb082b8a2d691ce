--[[
  Claims URLs for crawling within a run. A URL is claimed by the first job
  that sees it, up to the run's page limit; the same owner gets it again on
  a retry, so a crash between claiming and enqueueing loses nothing.
  Refreshes the TTL of both keys.

  Input:
    KEYS[1] claims (hash: URL -> owner)
    KEYS[2] page counter (string)

    ARGV[1] owner
    ARGV[2] page limit
    ARGV[3] ttl (s)
    ARGV[4..] URLs

  Output:
    the URLs this owner must enqueue, then as the last element the number
    of URLs the page limit refused (as a string)
]]
local out = {}
local refused = 0
for i = 4, #ARGV do
  local url = ARGV[i]
  local owner = redis.call('HGET', KEYS[1], url)
  if not owner then
    local pages = tonumber(redis.call('GET', KEYS[2]) or '0')
    if pages < tonumber(ARGV[2]) then
      redis.call('HSET', KEYS[1], url, ARGV[1])
      redis.call('INCR', KEYS[2])
      table.insert(out, url)
    else
      refused = refused + 1
    end
  elseif owner == ARGV[1] then
    table.insert(out, url)
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
table.insert(out, tostring(refused))
return out
