--[[
  Releases an owner's claims: deletes the claim keys this owner holds and
  leaves those another owner took over. Takes a variable number of keys
  (hence no key count in the file name).

  Input:
    KEYS[1..] claim keys, one per chunk hash

    ARGV[1] owner

  Output:
    the number of keys deleted
]]
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then n = n + redis.call('DEL', k) end
end
return n
