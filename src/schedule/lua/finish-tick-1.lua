--[[
  Records how a tick's run ended, idempotently: the run stops being the
  schedule's active run if it still is, and the last-run fields move only
  forward (a late or repeated report of an older tick changes nothing).

  Input:
    KEYS[1] schedule state (hash)

    ARGV[1] run id
    ARGV[2] tick id
    ARGV[3] the tick's fire time (ms)
    ARGV[4] outcome: succeeded | partial | failed
    ARGV[5] now (ms)

  Output:
    1 when the last-run fields were written, 0 when a newer tick's were kept
]]
if redis.call('HGET', KEYS[1], 'activeRun') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'activeRun', 'activeTick', 'activeSince')
end
local last = tonumber(redis.call('HGET', KEYS[1], 'lastTickAt') or '-1')
if tonumber(ARGV[3]) < last then
  return 0
end
redis.call('HSET', KEYS[1], 'lastRun', ARGV[1], 'lastTick', ARGV[2], 'lastTickAt', ARGV[3],
  'lastOutcome', ARGV[4], 'lastFinishedAt', ARGV[5])
if ARGV[4] == 'succeeded' then
  local prev = tonumber(redis.call('HGET', KEYS[1], 'lastSuccessAt') or '0')
  if tonumber(ARGV[5]) > prev then
    redis.call('HSET', KEYS[1], 'lastSuccessAt', ARGV[5])
  end
end
return 1
