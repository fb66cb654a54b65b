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

# KEYS: the keys to delete, then the keys to put; ARGV: the number of deletes, then data and
# ttl of each put. One script is one atomic step: nothing runs between its commands, and it
# checks every put before changing anything (Redis does not roll a failed script back).
# Returns how many of the deleted keys existed.
TRANSACT = """
local deletes = tonumber(ARGV[1])
for i = deletes + 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'hash' and kind ~= 'none' then return redis.error_reply('WRONGTYPE ' .. KEYS[i]) end
end
local existed = 0
for i = 1, deletes do
  existed = existed + redis.call('DEL', KEYS[i])
end
for i = deletes + 1, #KEYS do
  local arg = 2 + (i - deletes - 1) * 2
  redis.call('HINCRBY', KEYS[i], 'version', 1)
  redis.call('HSET', KEYS[i], 'data', ARGV[arg])
  redis.call('EXPIRE', KEYS[i], ARGV[arg + 1])
end
return existed
"""

# KEYS: the array's key, optionally a key whose shorter TTL caps the array's; ARGV: one encoded
# JSON value, ttl seconds. The stored data is a JSON array; appending splices the item before
# its closing bracket instead of decoding it.
APPEND = """
local ttl = tonumber(ARGV[2])
if KEYS[2] then
  local left = redis.call('TTL', KEYS[2])
  if left > 0 and left < ttl then ttl = left end
end
local data = redis.call('HGET', KEYS[1], 'data')
if data and string.len(data) > 2 then
  data = string.sub(data, 1, -2) .. ',' .. ARGV[1] .. ']'
else
  data = '[' .. ARGV[1] .. ']'
end
redis.call('HSET', KEYS[1], 'data', data)
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""

# The same append for many keys in one script (a single server: keys of many students may lie in
# different cluster slots). KEYS: per append its key, then its cap key when it has one; ARGV:
# per append its item, ttl, and 1 when a cap key follows its key. One script run instead of one
# per key: a class heat map records 30 reads.
APPEND_MANY = """
local k = 1
for i = 1, #ARGV, 3 do
  local key, ttl = KEYS[k], tonumber(ARGV[i + 1])
  k = k + 1
  if ARGV[i + 2] == '1' then
    local left = redis.call('TTL', KEYS[k])
    if left > 0 and left < ttl then ttl = left end
    k = k + 1
  end
  local data = redis.call('HGET', key, 'data')
  if data and string.len(data) > 2 then
    data = string.sub(data, 1, -2) .. ',' .. ARGV[i] .. ']'
  else
    data = '[' .. ARGV[i] .. ']'
  end
  redis.call('HSET', key, 'data', data)
  redis.call('HINCRBY', key, 'version', 1)
  redis.call('EXPIRE', key, ttl)
end
return 1
"""

__all__ = ["APPEND", "APPEND_MANY", "TRANSACT", "WRITE"]
