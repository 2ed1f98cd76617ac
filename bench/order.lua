--  bench/order.lua — wrk script for POST /order.
--
--  Every request orders one MENU-00000001 with qy 1, without an
--  Idempotency-Key: the order bare-store makes too. ORDER_CUSTOMERS (an
--  environment variable) lists customer ids, comma-separated, made and
--  charged beforehand by bench/run.sh; ORDER_TOKENS, when set, lists their
--  tokens in the same order ("-" for none), sent as Authorization: Bearer
--  for a coffee that answers POST /customer with one. Each wrk thread walks the whole list
--  from its own starting point, one customer per request, so the requests
--  spread over the customers and, through coffee's hash of the customer id,
--  over all its order actors.
--
--  Paced mode: with ORDER_RATE set (requests/s for the whole run) and
--  WRK_THREADS (wrk's -t), each thread sends at most ORDER_RATE/WRK_THREADS
--  requests/s on a fixed schedule: delay() holds each connection's next
--  request until the thread's next free slot (Debian's wrk 4.1 has no -R).
--  A thread that falls more than one second behind drops the backlog rather
--  than bursting. wrk times each request from its send, after the delay.
--
--  At the end it prints lines run.sh reads (the body, to replay one request
--  when most failed):
--      order.lua: requests N non2xx M socket_errors E seconds S
--      order.lua: latency_ms p50 A p90 B p99 C max D
--      order.lua: body {"customerId":…}

local customers = {}
for id in string.gmatch(os.getenv("ORDER_CUSTOMERS") or "", "[^,]+") do
    customers[#customers + 1] = id
end
if #customers == 0 then
    --  error() would only be printed and wrk would go on with GET requests.
    io.stderr:write("order.lua: set ORDER_CUSTOMERS to one or more customer ids\n")
    os.exit(2)
end

local tokens = {}
for token in string.gmatch(os.getenv("ORDER_TOKENS") or "", "[^,]+") do
    tokens[#tokens + 1] = token
end

local function body_of(customer)
    return '{"customerId":"' .. customer ..
           '","menuList":[{"menuId":"MENU-00000001","qy":1}]}'
end

local rate = tonumber(os.getenv("ORDER_RATE") or "")
local wrk_threads = tonumber(os.getenv("WRK_THREADS") or "") or 1
if rate and rate <= 0 then
    io.stderr:write("order.lua: ORDER_RATE must be a positive number\n")
    os.exit(2)
end

local threads = 0

--  Runs in the main state once per wrk thread: hands each its start index.
function setup(thread)
    thread:set("first", threads * #customers / wrk_threads)
    threads = threads + 1
end

local requests = {}
local next_request = 1

--  Runs in each thread's state: builds one request per customer, starting
--  at this thread's own offset in the list.
function init(args)
    local start = math.floor(first or 0)
    for i = 0, #customers - 1 do
        local n = (start + i) % #customers + 1
        local headers = { ["Content-Type"] = "application/json" }
        if tokens[n] and tokens[n] ~= "-" then
            headers["Authorization"] = "Bearer " .. tokens[n]
        end
        requests[#requests + 1] = wrk.format("POST", nil, headers, body_of(customers[n]))
    end
end

--  The next customer's request.
function request()
    local r = requests[next_request]
    next_request = next_request % #requests + 1
    return r
end

if rate then
    local ffi = require("ffi")
    ffi.cdef [[
        typedef struct { long tv_sec; long tv_nsec; } order_lua_timespec;
        int clock_gettime (int clock, order_lua_timespec *ts);
    ]]
    local ts = ffi.new("order_lua_timespec")
    local CLOCK_MONOTONIC = 1
    local interval_ms = 1000.0 * wrk_threads / rate
    local next_ms = nil

    local function now_ms()
        ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
        return tonumber(ts.tv_sec) * 1000.0 + tonumber(ts.tv_nsec) / 1e6
    end

    --  Milliseconds this connection waits before its next request: until
    --  the thread's next slot on the schedule.
    function delay()
        local now = now_ms()
        if next_ms == nil or next_ms < now - 1000.0 then
            next_ms = now
        end
        next_ms = next_ms + interval_ms
        local wait = next_ms - now
        if wait < 1 then
            return 0
        end
        return math.floor(wait)
    end
end

--  Summary for run.sh: non-2xx answers are orders coffee refused.
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("order.lua: requests %d non2xx %d socket_errors %d seconds %.3f\n",
             summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
             summary.duration / 1e6))
    io.write(string.format("order.lua: latency_ms p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
             latency:percentile(50) / 1000, latency:percentile(90) / 1000,
             latency:percentile(99) / 1000, latency.max / 1000))
    io.write("order.lua: body " .. body_of(customers[1]) .. "\n")
end
