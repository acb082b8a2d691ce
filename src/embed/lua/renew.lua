--[[
  Renews an owner's claims: extends each claim key this owner still holds
  and leaves the rest alone. Unlike claim.lua it never takes a key back: a
  claim that lapsed while its owner was stopped (SIGSTOP, a frozen VM) may
  belong to a redelivery that is paying for those chunks, so the stalled
  owner has lost it for good. Takes a variable number of keys (hence no key
  count in the file name).

  Input:
    KEYS[1..] claim keys, one per chunk hash

    ARGV[1] owner
    ARGV[2] ttl (ms)

  Output:
    the number of keys this owner no longer holds
]]
local lost = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2])
  else
    lost = lost + 1
  end
end
return lost
