-- GET benchmark: counts only HTTP 200 as success (wrk itself treats 3xx as success).
-- Optional bearer token: WRK_TOKEN=<access token> wrk -t4 -c4 -d10s -s get.lua http://host/path
-- Without WRK_TOKEN the same script drives the unauthenticated baseline, so client cost is equal.
-- Prints one line "WRK_JSON {...}" in done() for bench/run.py.

local token = os.getenv("WRK_TOKEN")
wrk.method = "GET"
wrk.headers["Accept"] = "application/json"
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- per-thread counters (each wrk thread has its own Lua state)
ok, non2xx, first_bad = 0, 0, ""

local threads = {}  -- main state only: setup() and done() run there

function setup(thread)
  table.insert(threads, thread)
end

local function json_escape(s)
  return (s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end))
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    non2xx = non2xx + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local total_ok, total_bad, bad = 0, 0, ""
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_bad = total_bad + t:get("non2xx")
    if bad == "" then bad = t:get("first_bad") end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"ok":%d,"non_200":%d,"completed":%d,"seconds":%.3f,"ok_rps":%.2f,'
      .. '"latency_ms":{"mean":%.3f,"p50":%.3f,"p99":%.3f},'
      .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"first_bad":"%s"}\n',
    total_ok, total_bad, summary.requests, secs, total_ok / secs,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect, e.read, e.write, e.timeout, json_escape(bad)))
end
