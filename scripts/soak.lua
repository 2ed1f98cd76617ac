--  scripts/soak.lua — wrk script for scripts/soak.sh: a mixed load of
--  reads, sign-ups, charges, orders with and without Idempotency-Key, and
--  lookups of orders and point histories, all on ids the run made itself.
--
--  Each wrk thread walks a fixed cycle of 20 steps (weights below); every
--  connection of the thread shares it. The ids come from the answers: the
--  body of any answer naming a customerId or an orderNo feeds the thread's
--  lists (newest SOAK_KEEP kept), so lookups always ask for real ids.
--  Orders with a key reuse the key of an earlier order one time in four
--  (a replay: the same answer again, nothing charged twice).
--
--  At the end it prints the figures soak.sh reads:
--      soak.lua: requests N status2xx A status4xx B status5xx C other D socket_errors E
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
    customers = {}
    orders = {}
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
        local body = string.format('{"customerId":"%s","chargeAmt":100000}', pick(customers))
        return wrk.format("POST", "/point", nil, body)
    elseif op == "order" then
        return wrk.format("POST", "/order", nil, order_body(pick(customers)))
    elseif op == "order_key" then
        local key, body
        if #keys > 0 and step % 4 == 0 then
            local k = pick(keys)
            key, body = k[1], k[2]
        else
            key_seq = key_seq + 1
            key = string.format("soak-%d-%d", tid, key_seq)
            body = order_body(pick(customers))
            push(keys, { key, body })
        end
        --  wrk.format sends only the headers it is given
        local headers = { ["Content-Type"] = "application/json", ["Idempotency-Key"] = key }
        return wrk.format("POST", "/order", headers, body)
    elseif op == "get_order" and #orders > 0 then
        return wrk.format("GET", "/order/" .. pick(orders))
    elseif op == "get_point" then
        return wrk.format("GET", "/point/" .. pick(customers))
    end
    return wrk.format("GET", "/display/best")
end

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
    if status == 200 and body then
        local order = string.match(body, '^{"orderNo":"(ORD%-%d+)"')
        if order then
            push(orders, order)
        else
            local customer = string.match(body, '^{"customerId":"(CUST%-%d+)"}$')
            if customer then
                push(customers, customer)
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
    io.write(string.format("soak.lua: requests %d status2xx %d status4xx %d status5xx %d other %d socket_errors %d\n",
             summary.requests, s2, s4, s5, other, e.connect + e.read + e.write + e.timeout))
    io.write("soak.lua: " .. table.concat(parts, " ") .. "\n")
    io.write(string.format("soak.lua: latency p50 %.1f ms p99 %.1f ms max %.1f ms\n",
             latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
