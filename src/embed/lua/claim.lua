--[[
  Claims chunk hashes for one owner, so that two jobs racing on a hash pay
  OpenAI for it once: takes each claim key nobody holds, and extends the
  ones this owner already holds (renewal, and retaking a lapsed claim nobody
  took). A claim is a lease that lapses ttl ms after its last renewal.
  Takes a variable number of keys (hence no key count in the file name).

  Input:
    KEYS[1..] claim keys, one per chunk hash

    ARGV[1] owner
    ARGV[2] ttl (ms)

  Output:
    1 or 0 per key, in order: held by this owner now, or by another
]]
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 1
  elseif redis.call('GET', k) == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
