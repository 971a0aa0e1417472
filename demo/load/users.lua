-- wrk script: GET /users/{random id}, ids 1..N (N: the first argument after "--").
-- wrk runs init() in each thread's own Lua state; setup() numbers the threads so that each
-- seeds its own random sequence.
local max_id = 1000
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  if args[1] then max_id = tonumber(args[1]) end
  math.randomseed(os.time() * 100 + (thread_number or 0))
end

function request()
  return wrk.format("GET", "/users/" .. math.random(1, max_id))
end
