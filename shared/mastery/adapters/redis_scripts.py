"""The Lua scripts of the direct Redis state store (`mastery.adapters.redis_store`).

Each runs atomically on the server; together they write the Dapr `state.redis` layout (a hash
`{data, version}` per key, the ETag is the version).
"""

# ARGV: expected version ("" = key must be absent), data, ttl seconds. Returns the new version,
# or -1 when the expectation does not hold.
WRITE = """
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
  if current then return -1 end
elseif current ~= ARGV[1] then
  return -1
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'data', ARGV[2])
-- Dapr's state.redis marks keys written with first-write concurrency this way; with the mark, a
-- sidecar's write without an ETag fails on an existing key instead of overwriting it.
redis.call('HSET', KEYS[1], 'first-write', 0)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return version
"""

# KEYS: the keys to delete, then the keys to write; ARGV: the number of deletes, then per write
# its expected version ("" = the key must be absent), data and ttl. One script is one atomic
# step: nothing runs between its commands, and it checks every write (type and version) before
# changing anything (Redis does not roll a failed script back). Returns how many of the deleted
# keys existed, or -1 (and nothing changed) when a version does not hold.
TRANSACT = """
local deletes = tonumber(ARGV[1])
for i = deletes + 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'hash' and kind ~= 'none' then return redis.error_reply('WRONGTYPE ' .. KEYS[i]) end
  local expected = ARGV[2 + (i - deletes - 1) * 3]
  local current = redis.call('HGET', KEYS[i], 'version')
  if (expected == '' and current) or (expected ~= '' and current ~= expected) then return -1 end
end
local existed = 0
for i = 1, deletes do
  existed = existed + redis.call('DEL', KEYS[i])
end
for i = deletes + 1, #KEYS do
  local arg = 2 + (i - deletes - 1) * 3
  redis.call('HINCRBY', KEYS[i], 'version', 1)
  redis.call('HSET', KEYS[i], 'data', ARGV[arg + 1], 'first-write', 0)
  redis.call('EXPIRE', KEYS[i], ARGV[arg + 2])
end
return existed
"""

# Coalescing appends to append-only logs (the audit trail), constant time in a log's length.
# KEYS: per append its stream, its tally hash and its owner key; ARGV: per run of appends that
# share them, the coalesce key, note, now ms, window ms, keep ms and how many appends the run
# has (a heat map's 30 appends are one run: 6 arguments, not 150). A stream entry holds `k`
# (coalesce key) and `n` (note). The tally hash holds per coalesce key its open entry, `o:<key>` = "<id> <first
# ms> <extra count> <last ms>", updated in place while the window lasts; when it closes with
# an extra count, that moves to `t:<id>` = "<extra count> <last ms>". An entry's id is
# `<ms>-<seq>` with ms = now, or the newest id's ms if a skewed clock lags. Entries older than
# `keep` go, a few per new entry (each entry once: amortised constant). Nothing is recorded
# while the owner key is absent; both keys expire with the owner at the latest. Returns per
# append "1" when it was recorded, else "0", in one string (one bulk reply: cheaper for a client
# to read than an array of integers).
LOG_APPEND = """
local recorded = {}
local i = 1
for a = 1, #ARGV, 6 do
  local field, note = 'o:' .. ARGV[a], ARGV[a + 1]
  local now, window, keep = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  for _ = 1, tonumber(ARGV[a + 5]) do
    local stream, tally, owner = KEYS[i], KEYS[i + 1], KEYS[i + 2]
    i = i + 3
    local left = redis.call('PTTL', owner)
    recorded[#recorded + 1] = '0'
    if left ~= -2 then
      local open = redis.call('HGET', tally, field)
      local id, first, extra, last
      if open then
        id, first, extra, last = string.match(open, '^(%S+) (%d+) (%d+) (%d+)$')
        first, extra = tonumber(first), tonumber(extra)
      end
      if open and now >= first and now < first + window then
        redis.call('HSET', tally, field, id .. ' ' .. first .. ' ' .. (extra + 1) .. ' ' .. now)
      else
        if open and extra > 0 then redis.call('HSET', tally, 't:' .. id, extra .. ' ' .. last) end
        local ms = now
        local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
        if newest then
          local newest_ms = tonumber(string.match(newest[1], '^%d+'))
          if newest_ms > ms then ms = newest_ms end
        end
        id = redis.call('XADD', stream, ms .. '-*', 'k', ARGV[a], 'n', note)
        redis.call('HSET', tally, field, id .. ' ' .. now .. ' 0 ' .. now)
        local expired = {}
        if now > keep then
          expired = redis.call('XRANGE', stream, '-', tostring(now - keep - 1), 'COUNT', 4)
        end
        for _, old in ipairs(expired) do
          redis.call('XDEL', stream, old[1])
          redis.call('HDEL', tally, 't:' .. old[1])
          local old_field = 'o:' .. old[2][2]
          local current = redis.call('HGET', tally, old_field)
          if current and string.sub(current, 1, #old[1] + 1) == old[1] .. ' ' then
            redis.call('HDEL', tally, old_field)
          end
        end
      end
      local ttl = keep
      if left > 0 and left < ttl then ttl = left end
      redis.call('PEXPIRE', stream, ttl)
      redis.call('PEXPIRE', tally, ttl)
      recorded[#recorded] = '1'
    end
  end
end
return table.concat(recorded)
"""

# KEYS: a stream and its tally hash; ARGV: first id, last id, count. Per entry: id, coalesce key,
# note, extra count and last ms ("" and "" when it was seen once).
LOG_READ = """
local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])) do
  local key, note = '', ''
  for f = 1, #e[2], 2 do
    if e[2][f] == 'k' then key = e[2][f + 1] elseif e[2][f] == 'n' then note = e[2][f + 1] end
  end
  local extra, last = '', ''
  local closed = redis.call('HGET', KEYS[2], 't:' .. e[1])
  if closed then
    extra, last = string.match(closed, '^(%d+) (%d+)$')
  else
    local open = redis.call('HGET', KEYS[2], 'o:' .. key)
    if open and string.sub(open, 1, #e[1] + 1) == e[1] .. ' ' then
      extra, last = string.match(open, ' (%d+) (%d+)$')
    end
  end
  out[#out + 1] = {e[1], key, note, extra, last}
end
return out
"""

__all__ = ["LOG_APPEND", "LOG_READ", "TRANSACT", "WRITE"]
