-- wrk script: each connection POSTs pre-signed submissions (one line of BODIES-<thread>.txt each, never twice)
-- to /add; every 200 answer's nonce is written to ACKED-<thread>.txt (the durability check reads them).
-- usage: wrk -t T -c C -d D -s add.lua URL -- BODIES_PREFIX ACKED_PREFIX
local threads = {}
local counter = 0

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

function init(args)
    bodies = {}
    for line in io.lines(args[1] .. "-" .. id .. ".txt") do bodies[#bodies + 1] = line end
    acked = io.open(args[2] .. "-" .. id .. ".txt", "w")
    next_body = 0
    ok = 0
    refused = 0
end

function request()
    next_body = next_body + 1
    if next_body > #bodies then
        return wrk.format("GET", "/checkpoint")
    end
    return wrk.format("POST", "/add", {["Content-Type"] = "application/json"}, bodies[next_body])
end

function response(status, headers, body)
    if status == 200 then
        local nonce = string.match(body, '\\"nonce\\":\\"(%x+)\\"') or string.match(body, '"nonce":"(%x+)"')
        if nonce then
            ok = ok + 1
            acked:write(nonce, "\n")
            acked:flush()
        end
    else
        refused = refused + 1
    end
end

function done(summary, latency, requests)
    for _, thread in ipairs(threads) do
        io.write(string.format("thread %d: %d requests, %d acknowledged appends, %d other answers\n",
            thread:get("id"), thread:get("next_body"), thread:get("ok"), thread:get("refused")))
    end
    io.write(string.format("p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000))
end
