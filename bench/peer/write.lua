-- wrk script for the peer write workload (bench/peer/writes.sh): each request creates one data subject with an email
-- and a name in the tenant of the next token, rotating over 50 tenants.
--   BENCH_KIND=steward       Steward's createDataSubject (both values sealed, the email blind-indexed, one audit event,
--                            the subject's key in the key database; one transaction)
--   BENCH_KIND=postgraphile  PostGraphile's generated createDataSubject on app.data_subjects (RLS WITH CHECK)
-- BENCH_TOKENS is a file of lines "<jwt> <tenant uuid>". A response counts as acknowledged only when it is a 200 with no
-- "errors" and carries the new row's id; everything else is bad. done() prints one RESULT line.
local kind = os.getenv("BENCH_KIND")
local entries = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  local token, tenant = line:match("^(%S+)%s+(%S+)$")
  table.insert(entries, { token = token, tenant = tenant })
end
assert(#entries > 0, "no tokens in BENCH_TOKENS")
assert(kind == "steward" or kind == "postgraphile", "BENCH_KIND must be steward or postgraphile")

local threads = {}
local counter = 0
acknowledged = 0  -- globals: done() reads them from each thread (thread:get sees only globals)
bad = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  acknowledged = 0
  bad = 0
  math.randomseed(os.time() * 1000 + id * 7919 + tonumber(os.getenv("BENCH_NONCE") or "0"))
end

local function uuid4()
  return string.format("%08x-%04x-4%03x-%04x-%04x%08x", math.random(0, 0x7fffffff), math.random(0, 0xffff),
    math.random(0, 0xfff), 0x8000 + math.random(0, 0x3fff), math.random(0, 0xffff), math.random(0, 0x7fffffff))
end

function request()
  counter = counter + 1
  local e = entries[(counter % #entries) + 1]
  local id = uuid4()
  local body
  if kind == "steward" then
    body = '{"query":"mutation { createDataSubject(input: {externalId: \\"' .. id ..
      '\\", personalData: [{category: \\"user.contact.email\\", value: \\"' .. id ..
      '@write.example\\", purpose: \\"essential.service\\", source: \\"bench\\"}, {category: \\"user.name\\", value: \\"Writer ' ..
      id .. '\\", purpose: \\"essential.service\\", source: \\"bench\\"}]}) { id } }"}'
  else
    body = '{"query":"mutation { createDataSubject(input: {dataSubject: {rowId: \\"' .. id .. '\\", tenantId: \\"' ..
      e.tenant .. '\\", email: \\"' .. id .. '@write.example\\", fullName: \\"Writer ' .. id ..
      '\\"}}) { dataSubject { rowId } } }"}'
  end
  return wrk.format("POST", "/graphql", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. e.token,
  }, body)
end

local marker = kind == "steward" and '"createDataSubject":{"id":"' or '"rowId":"'

function response(status, headers, body)
  if status == 200 and not body:find('"errors"', 1, true) and body:find(marker, 1, true) then
    acknowledged = acknowledged + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local ack, nbad = 0, 0
  for _, t in ipairs(threads) do
    ack = ack + (t:get("acknowledged") or 0)
    nbad = nbad + (t:get("bad") or 0)
  end
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d acknowledged=%d bad=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), ack, nbad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
