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
    { refused, mine, url1, ..., urlMine, other1, owner1, other2, owner2, ... }:
    the number of URLs the page limit refused, the number of URLs this owner
    must enqueue, those URLs, then each URL another owner holds with that
    owner (claims are never reassigned within a run, so a caller may
    remember them and not ask again)
]]
local out = {}
local others = {}
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
  else
    table.insert(others, url)
    table.insert(others, owner)
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local reply = { tostring(refused), tostring(#out) }
for _, url in ipairs(out) do table.insert(reply, url) end
for _, v in ipairs(others) do table.insert(reply, v) end
return reply
