--  bench/order.lua — wrk script for POST /order.
--
--  Every request orders one MENU-00000001 with qy 1, without an
--  Idempotency-Key: the body bare-store orders too. ORDER_CUSTOMERS (an
--  environment variable) lists customer ids, comma-separated, made and
--  charged beforehand by bench/run.sh; wrk thread i orders for customer
--  i mod n, so with as many customers as wrk threads each thread has its own.
--
--  At the end it prints two lines run.sh reads (the body, to replay one
--  request when most failed):
--      order.lua: requests N non2xx M socket_errors E
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

local threads = 0
local first_body = nil

--  Runs in the main state once per wrk thread: hands each its body.
function setup(thread)
    local customer = customers[threads % #customers + 1]
    local body = '{"customerId":"' .. customer ..
                 '","menuList":[{"menuId":"MENU-00000001","qy":1}]}'
    first_body = first_body or body
    thread:set("body", body)
    threads = threads + 1
end

--  Runs in each thread's state: builds its one fixed request.
function init(args)
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.body = body
end

--  Summary for run.sh: non-2xx answers are orders coffee refused.
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("order.lua: requests %d non2xx %d socket_errors %d\n",
             summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
    io.write("order.lua: body " .. first_body .. "\n")
end
