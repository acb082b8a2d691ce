--[[
  Gives back a reservation the API did not count (it answered 429): removes
  it from the log and its tokens from the sum (never below 0).

  Input:
    KEYS[1] log (zset: member "<id>|<tokens>", score ms)
    KEYS[2] token sum of the log (string)

    ARGV[1] member ("<id>|<tokens>")
    ARGV[2] its tokens

  Output:
    1 if the reservation was in the log, else 0
]]
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  local sum = redis.call('DECRBY', KEYS[2], tonumber(ARGV[2]))
  if sum < 0 then redis.call('SET', KEYS[2], 0) end
  return 1
end
return 0
