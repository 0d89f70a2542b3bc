// The Lua scripts of the Redis job store (jobs/redis_job_store.cc, which documents the keys).
// Each runs atomically on the server: KEYS are the job's keys in redis_job_keys() order; every
// script is sent after kPrelude.
#pragma once

namespace evosearch::redis_scripts {

// Shared by the scripts: key names, the server clock, and the fence over ARGV[1..3] = prompt,
// owner, token (nil while the lease holds the prompt; otherwise the reply saying why not).
inline constexpr const char* kPrelude = R"(
local job, prompts, queue, leases, checkpoints, outcomes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ms(x) return string.format('%d', x) end
local function fence()
  local i = ARGV[1]
  if redis.call('EXISTS', job) == 0 then return {'nojob'} end
  local f = redis.call('HMGET', prompts, i .. ':state', i .. ':owner', i .. ':token')
  if not f[1] then return {'noprompt'} end
  if f[1] ~= '2' or f[2] ~= ARGV[2] or f[3] ~= ARGV[3] then return {'lost', f[1], f[2] or '', f[3] or '0'} end
  return nil
end
)";

// ARGV: restart ("1"/"0"), JobRecord, prompt texts. Creates the job unless it exists.
inline constexpr const char* kOpen = R"(
if ARGV[1] == '1' then redis.call('DEL', unpack(KEYS))
elseif redis.call('EXISTS', job) == 1 then return {'exists', redis.call('HGET', job, 'record')} end
local now = ms(now_ms())
redis.call('HSET', job, 'record', ARGV[2], 'created', now)
for n = 3, #ARGV do
  local i = n - 3
  redis.call('HSET', prompts, i .. ':text', ARGV[n], i .. ':state', 1, i .. ':owner', '', i .. ':token', 0,
             i .. ':expires', 0, i .. ':generation', 0, i .. ':count', 0, i .. ':best', '', i .. ':attempts', 0,
             i .. ':error', '', i .. ':updated', now)
  redis.call('ZADD', queue, i, i)
end
return {'created'}
)";

// ARGV: owner, max, lease ms. Lowest indices first among queued and expired prompts.
inline constexpr const char* kClaim = R"(
if redis.call('EXISTS', job) == 0 then return {'nojob'} end
local owner, max = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local expires = now + tonumber(ARGV[3])
local candidates = {}
for _, i in ipairs(redis.call('ZRANGE', queue, 0, max - 1)) do candidates[#candidates + 1] = tonumber(i) end
for _, i in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do candidates[#candidates + 1] = tonumber(i) end
table.sort(candidates)
local out = {'ok', expires}
for n = 1, math.min(max, #candidates) do
  local i = candidates[n]
  redis.call('ZREM', queue, i)
  redis.call('ZADD', leases, ms(expires), i)
  out[#out + 1] = i
  out[#out + 1] = redis.call('HINCRBY', prompts, i .. ':token', 1)
  redis.call('HINCRBY', prompts, i .. ':attempts', 1)
  redis.call('HSET', prompts, i .. ':state', 2, i .. ':owner', owner, i .. ':expires', ms(expires), i .. ':updated', ms(now))
end
return out
)";

// ARGV: prompt, owner, token, lease ms.
inline constexpr const char* kRenew = R"(
local bad = fence() if bad then return bad end
local i, now = ARGV[1], now_ms()
local expires = now + tonumber(ARGV[4])
redis.call('ZADD', leases, ms(expires), i)
redis.call('HSET', prompts, i .. ':expires', ms(expires), i .. ':updated', ms(now))
return {'ok', expires}
)";

// ARGV: prompt, owner, token.
inline constexpr const char* kRelease = R"(
local bad = fence() if bad then return bad end
local i = ARGV[1]
redis.call('ZREM', leases, i)
redis.call('ZADD', queue, i, i)
redis.call('HSET', prompts, i .. ':state', 1, i .. ':expires', 0, i .. ':updated', ms(now_ms()))
return {'ok'}
)";

// ARGV: prompt, owner, token, CheckpointRecord, generation, generation count, best ("" if none).
inline constexpr const char* kCommit = R"(
local bad = fence() if bad then return bad end
local i = ARGV[1]
redis.call('HSET', checkpoints, i, ARGV[4])
redis.call('HSET', prompts, i .. ':generation', ARGV[5], i .. ':count', ARGV[6], i .. ':updated', ms(now_ms()))
if ARGV[7] ~= '' then redis.call('HSET', prompts, i .. ':best', ARGV[7]) end
return {'ok'}
)";

// ARGV: prompt, owner, token, PromptOutcome. Saving again under the same lease succeeds (a
// retry after a lost reply), without writing.
inline constexpr const char* kOutcome = R"(
local done = redis.call('HMGET', prompts, ARGV[1] .. ':state', ARGV[1] .. ':owner', ARGV[1] .. ':token')
if done[1] == '3' and done[2] == ARGV[2] and done[3] == ARGV[3] then return {'ok'} end
local bad = fence() if bad then return bad end
local i = ARGV[1]
redis.call('HSET', outcomes, i, ARGV[4])
redis.call('HDEL', checkpoints, i)
redis.call('ZREM', leases, i)
redis.call('HSET', prompts, i .. ':state', 3, i .. ':expires', 0, i .. ':updated', ms(now_ms()))
return {'ok'}
)";

// ARGV: prompt, owner, token, error.
inline constexpr const char* kFail = R"(
local bad = fence() if bad then return bad end
local i = ARGV[1]
redis.call('ZREM', leases, i)
redis.call('HSET', prompts, i .. ':state', 4, i .. ':error', ARGV[4], i .. ':expires', 0, i .. ':updated', ms(now_ms()))
return {'ok'}
)";

// ARGV: line, limit.
inline constexpr const char* kLogEvent = R"(
redis.call('LPUSH', KEYS[8], ARGV[1])
redis.call('LTRIM', KEYS[8], 0, tonumber(ARGV[2]) - 1)
return {'ok'}
)";

}  // namespace evosearch::redis_scripts
