-- wrk script: the hot read, rotating over many tenants' tokens (one per line in $BENCH_TOKENS), every response
-- checked (status 200, no "errors", exactly $BENCH_EXPECT_N names). Prints one RESULT line.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  local body = '{"query":"{ dataSubjects(first: 20) { edges { node { id personalData(categories: [\\"user.contact.email\\", \\"user.name\\"]) { category value } } } } }"}'
  requests = {}
  for token in io.lines(os.getenv("BENCH_TOKENS")) do
    table.insert(requests, wrk.format("POST", "/graphql",
      { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body))
  end
  expect = tonumber(os.getenv("BENCH_EXPECT_N") or "20")
  i = id * 7919
end

function request()
  i = i + 1
  return requests[(i % #requests) + 1]
end

function response(status, headers, body)
  if status ~= 200 or body:find('"errors"', 1, true) then
    bad = bad + 1
    return
  end
  local _, n = body:gsub('"user.name"', "")
  if n ~= expect then
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
