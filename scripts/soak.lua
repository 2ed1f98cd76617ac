--  scripts/soak.lua — wrk script for scripts/soak.sh: a mixed load of
--  reads, sign-ups, charges, orders with and without Idempotency-Key, and
--  lookups of orders and point histories, all on ids the run made itself.
--
--  Each wrk thread walks a fixed cycle of 20 steps (weights below); every
--  connection of the thread shares it. The ids come from the answers, so
--  lookups always ask for real ids (newest SOAK_KEEP of each kept):
--  a sign-up's answer gives a customer and its token, shown once and sent
--  from then on as Authorization: Bearer with every request for that
--  customer (none is sent when the sign-up answered none); a
--  point history names its customer and, in its USE rows' remarks, that
--  customer's orders, which the order lookups then read with the same
--  customer's token (an order's own answer does not say whose it is, and
--  wrk's response() does not say which request it answers).
--  Orders with a key reuse the key of an earlier order one time in four
--  (a replay: the same answer again, nothing charged twice).
--  Tokens are not rotated here: a rotation would turn the requests other
--  connections have in flight with the old token into 401s.
--
--  At the end it prints the figures soak.sh reads (auth_refused: 401 and
--  403 answers, which a customer sending its own token never gets):
--      soak.lua: requests N status2xx A status4xx B status5xx C other D socket_errors E auth_refused F
--      soak.lua: s200 … s409 … per status

local SOAK_KEEP = 256

--  The cycle: op name per step.
local cycle = {
    "menu", "best", "charge", "order", "menu", "order_key", "get_order", "best",
    "signup", "get_point", "menu", "order", "charge", "order_key", "get_order",
    "best", "menu", "order", "get_point", "order_key",
}

local threads = {}

function setup(thread)
    thread:set("tid", #threads + 1)
    threads[#threads + 1] = thread
end

--  Per-thread state (each wrk thread has its own Lua state).
function init(args)
    step = 0
    customers = {}          --  customer ids
    tokens = {}             --  customer id -> its bearer token
    orders = {}             --  { orderNo, customer id }
    keys = {}
    counts = {}
    key_seq = 0
    wrk.headers["Content-Type"] = "application/json"
end

local function push(list, value)
    list[#list + 1] = value
    if #list > SOAK_KEEP then
        table.remove(list, 1)
    end
end

local function pick(list)
    return list[math.random(#list)]
end

local function signup()
    local body = string.format('{"customerNm":"soak-%d-%d"}', tid, step)
    return wrk.format("POST", "/customer", nil, body)
end

--  The headers of a request made for customer: its token, and a JSON
--  content type (wrk.format sends only the headers it is given).
local function as_customer(customer, extra)
    local headers = { ["Content-Type"] = "application/json" }
    if tokens[customer] then
        headers["Authorization"] = "Bearer " .. tokens[customer]
    end
    for k, v in pairs(extra or {}) do
        headers[k] = v
    end
    return headers
end

local function order_body(customer)
    local menu = 1 + (step % 5)
    local qy = 1 + (step % 3)
    return string.format('{"customerId":"%s","menuList":[{"menuId":"MENU-%08d","qy":%d}]}',
                         customer, menu, qy)
end

function request()
    step = step + 1
    local op = cycle[(step - 1) % #cycle + 1]
    if #customers == 0 then
        return signup()
    end
    if op == "menu" then
        return wrk.format("GET", "/display/menu")
    elseif op == "best" then
        return wrk.format("GET", "/display/best")
    elseif op == "signup" then
        return signup()
    elseif op == "charge" then
        local customer = pick(customers)
        local body = string.format('{"customerId":"%s","chargeAmt":100000}', customer)
        return wrk.format("POST", "/point", as_customer(customer), body)
    elseif op == "order" then
        local customer = pick(customers)
        return wrk.format("POST", "/order", as_customer(customer), order_body(customer))
    elseif op == "order_key" then
        local key, body, customer
        if #keys > 0 and step % 4 == 0 then
            local k = pick(keys)
            key, body, customer = k[1], k[2], k[3]
        else
            key_seq = key_seq + 1
            key = string.format("soak-%d-%d", tid, key_seq)
            customer = pick(customers)
            body = order_body(customer)
            push(keys, { key, body, customer })
        end
        return wrk.format("POST", "/order", as_customer(customer, { ["Idempotency-Key"] = key }), body)
    elseif op == "get_order" and #orders > 0 then
        local o = pick(orders)
        return wrk.format("GET", "/order/" .. o[1], as_customer(o[2]))
    elseif op == "get_point" then
        local customer = pick(customers)
        return wrk.format("GET", "/point/" .. customer, as_customer(customer))
    end
    return wrk.format("GET", "/display/best")
end

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
    if status == 200 and body then
        --  a sign-up: {"customerId":…} with "token" when the server issues one
        local customer = string.match(body, '^{"customerId":"(CUST%-%d+)"')
        if customer then
            local token = string.match(body, '"token":"([%w_%-]+)"')
            if not tokens[customer] then
                push(customers, customer)
            end
            tokens[customer] = token
            return
        end
        --  a point history: [{"customerId":…,"pointDetail":[… "remark":"주문 ORD-…" …]}]
        customer = string.match(body, '^%[{"customerId":"(CUST%-%d+)"')
        if customer then
            --  the newest few (the first rows) are enough to look up
            local n = 0
            for order in string.gmatch(body, '"remark":"[^"]-(ORD%-%d+)"') do
                push(orders, { order, customer })
                n = n + 1
                if n == 4 then break end
            end
        end
    end
end

function done(summary, latency, requests)
    local total = { }
    for _, thread in ipairs(threads) do
        local c = thread:get("counts")
        for status, n in pairs(c) do
            total[status] = (total[status] or 0) + n
        end
    end
    local s2, s4, s5, other = 0, 0, 0, 0
    local refused = (total[401] or 0) + (total[403] or 0)
    local parts = {}
    for status, n in pairs(total) do
        if status >= 200 and status < 300 then s2 = s2 + n
        elseif status >= 400 and status < 500 then s4 = s4 + n
        elseif status >= 500 and status < 600 then s5 = s5 + n
        else other = other + n end
        parts[#parts + 1] = string.format("s%d %d", status, n)
    end
    table.sort(parts)
    local e = summary.errors
    io.write(string.format("soak.lua: requests %d status2xx %d status4xx %d status5xx %d other %d socket_errors %d auth_refused %d\n",
             summary.requests, s2, s4, s5, other, e.connect + e.read + e.write + e.timeout, refused))
    io.write("soak.lua: " .. table.concat(parts, " ") .. "\n")
    io.write(string.format("soak.lua: latency p50 %.1f ms p99 %.1f ms max %.1f ms\n",
             latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
