-- Refresh-with-rotation benchmark. Run with as many threads as connections (-tN -cN): wrk's
-- request()/response() callbacks are per thread, so one connection per thread gives every
-- connection its own refresh-token chain. Each 200 response carries a new refresh token
-- (JSON {"access": ..., "refresh": ...}) that the next request on that connection must use.
--
-- WRK_REFRESH_TOKENS=<file with one refresh token per line, at least N lines>
--   wrk -t4 -c4 -d10s -s refresh.lua http://host/api/token/refresh/
--
-- Only HTTP 200 with a refresh token in the body counts as a successful refresh; anything
-- else is reported as non_200 / no_token (a broken chain makes every later request fail).
-- Prints one line "WRK_JSON {...}" in done() for bench/run.py.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

-- per-thread state (each wrk thread has its own Lua state); set from setup() below
refresh_token = nil
ok, non2xx, no_token, first_bad = 0, 0, 0, ""

local threads = {}  -- main state only: setup() and done() run there
local tokens = nil

local function load_tokens()
  local path = os.getenv("WRK_REFRESH_TOKENS")
  assert(path and path ~= "", "set WRK_REFRESH_TOKENS to a file of refresh tokens")
  local list = {}
  for line in io.lines(path) do
    if line ~= "" then table.insert(list, line) end
  end
  return list
end

function setup(thread)
  tokens = tokens or load_tokens()
  table.insert(threads, thread)
  local tok = tokens[#threads]
  assert(tok, "fewer refresh tokens than wrk threads (use -tN -cN and N tokens)")
  thread:set("refresh_token", tok)
end

function request()
  -- wrk also calls request() once in the main state to validate the script: no token there.
  return wrk.format(nil, nil, nil, '{"refresh":"' .. (refresh_token or "x") .. '"}')
end

local function json_escape(s)
  return (s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end))
end

function response(status, headers, body)
  if status == 200 then
    local tok = body and body:match('"refresh"%s*:%s*"([^"]+)"')
    if tok then
      ok = ok + 1
      refresh_token = tok
      return
    end
    no_token = no_token + 1
  else
    non2xx = non2xx + 1
  end
  if first_bad == "" then
    first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
  end
end

function done(summary, latency, requests)
  local total_ok, total_bad, total_no_token, bad = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_bad = total_bad + t:get("non2xx")
    total_no_token = total_no_token + t:get("no_token")
    if bad == "" then bad = t:get("first_bad") end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"ok":%d,"non_200":%d,"no_token":%d,"completed":%d,"seconds":%.3f,"ok_rps":%.2f,'
      .. '"latency_ms":{"mean":%.3f,"p50":%.3f,"p99":%.3f},'
      .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"first_bad":"%s"}\n',
    total_ok, total_bad, total_no_token, summary.requests, secs, total_ok / secs,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect, e.read, e.write, e.timeout, json_escape(bad)))
end
