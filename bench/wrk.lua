-- Load script for wrk (bench/wrk.ts runs it). Pre-builds every request from a file of
-- "host<TAB>authorization<TAB>body" lines and rotates through them, so each request carries
-- a real Host header and the token of that host's tenant. Counts every response that is not
-- a clean GraphQL success (status other than 200, or an "errors" key in the body).
-- With "markers" as the second argument it also checks every successful body for rows of
-- another tenant: every seeded name starts with "T<tenant id> ", and the body's own
-- tenant { id } says which tenant answered.

local requests = {}
local index = 0
bad = 0 -- globals: done() reads them from each thread with thread:get
wrong = 0
local check_markers = false
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local host, authorization, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    if host then
      local headers = { ["Host"] = host, ["Content-Type"] = "application/json" }
      if authorization ~= "" then headers["Authorization"] = authorization end
      requests[#requests + 1] = wrk.format("POST", "/graphql", headers, body)
    end
  end
  if #requests == 0 then error("no requests in " .. args[1]) end
  check_markers = args[2] == "markers"
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
  elseif check_markers then
    -- Every marker ("T and a digit) must be the body's own tenant's. Plain finds only (memchr
    -- in C, no string per marker): gmatch's captures cost R ~12 % of C's rate in wrk's CPU.
    local tenant = string.match(body, '"tenant":{"id":(%d+)')
    if tenant == nil then
      wrong = wrong + 1
    else
      local own = '"T' .. tenant .. ' '
      local at = string.find(body, '"T', 1, true)
      while at do
        local c = string.byte(body, at + 2)
        if c and c >= 48 and c <= 57 and string.find(body, own, at, true) ~= at then
          wrong = wrong + 1
          break
        end
        at = string.find(body, '"T', at + 2, true)
      end
    end
  end
end

function done(summary, latency, _)
  local total_bad, total_wrong = 0, 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
    total_wrong = total_wrong + thread:get("wrong")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d,' ..
    '"bad":%d,"wrong":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    total_bad, total_wrong, e.connect, e.read, e.write, e.status, e.timeout))
end
