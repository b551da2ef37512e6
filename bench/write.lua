-- wrk script: the write path. Each request creates one data subject with an email and a name (sealed, blind-indexed,
-- audited) in one of several tenants, rotating over the client admin tokens in BENCH_TOKENS (comma-separated).
-- A non-200 status or an "errors" key counts as bad.
local tokens = {}
for t in string.gmatch(os.getenv("BENCH_TOKENS"), "[^,]+") do
  table.insert(tokens, t)
end

local counter = 0
bad = 0  -- a global: done() reads it from each thread (thread:get sees only globals)
local threads = {}
local thread_id = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  thread_id = id
  math.randomseed(os.time() + thread_id * 7919)
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local n = string.format("w%d-%d-%d", thread_id, math.random(1, 1000000000), counter)
  local body = '{"query":"mutation { createDataSubject(input: {externalId: \\"' .. n ..
    '\\", personalData: [{category: \\"user.contact.email\\", value: \\"' .. n ..
    '@write.example\\", purpose: \\"essential.service\\", source: \\"bench\\"}, {category: \\"user.name\\", value: \\"Writer ' .. n ..
    '\\", purpose: \\"essential.service\\", source: \\"bench\\"}]}) { id } }"}'
  return wrk.format("POST", "/graphql", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

function response(status, headers, body)
  if status ~= 200 or body:find('"errors"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, t in ipairs(threads) do
    total_bad = total_bad + (t:get("bad") or 0)
  end
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.0f p50_ms=%.2f p99_ms=%.2f bad=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, total_bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
