-- wrk script: a client user's page of the first 20 subjects with email and name. Every response is checked: a
-- non-200 status, an "errors" key, or a page without 20 subjects counts as an error.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.body = '{"query":"{ dataSubjects(first: 20) { edges { node { id personalData(categories: [\\"user.contact.email\\", \\"user.name\\"]) { category value } } } } }"}'

bad = 0  -- a global: done() reads it from each thread (thread:get sees only globals)
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status ~= 200 or body:find('"errors"', 1, true) then
    bad = bad + 1
    return
  end
  local _, n = body:gsub('"user.name"', "")
  if n ~= 20 then
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
