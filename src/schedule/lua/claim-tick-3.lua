--[[
  Claims a schedule tick's run (docs/design.md, "Schedules"): a tick that
  already has a run gets it back (a redelivered tick resumes its own run);
  otherwise the tick becomes the schedule's active run, but only if the
  active run is still the one the caller checked (compare-and-set), so two
  ticks racing never both start.

  Input:
    KEYS[1] schedule state (hash: activeRun, activeTick, activeSince, ...)
    KEYS[2] the tick's run (string: run id)
    KEYS[3] the schedule's runs (hash: run id -> tick id)

    ARGV[1] tick id (its BullMQ job id)
    ARGV[2] run id derived from the tick
    ARGV[3] the active run the caller saw ('' for none)
    ARGV[4] now (ms)
    ARGV[5] ttl of the tick and runs keys (s)

  Output:
    {'resume', run id}   the tick already had its run
    {'started', run id}  the tick's run is now the schedule's active run
    {'changed', active}  the active run changed since the caller looked: look again
]]
local own = redis.call('GET', KEYS[2])
if own then
  return {'resume', own}
end
local active = redis.call('HGET', KEYS[1], 'activeRun') or ''
if active ~= ARGV[3] then
  return {'changed', active}
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[5]))
redis.call('HSET', KEYS[1], 'activeRun', ARGV[2], 'activeTick', ARGV[1], 'activeSince', ARGV[4])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[5]))
return {'started', ARGV[2]}
