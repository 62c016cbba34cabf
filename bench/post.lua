-- wrk script: POST the body read from $BENCH_BODY with $BENCH_CONTENT_TYPE,
-- plus Inference-Header-Content-Length when $BENCH_HEADER_LENGTH is set (binary tensors).
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local header_length = os.getenv("BENCH_HEADER_LENGTH")
if header_length and header_length ~= "" then
  wrk.headers["Inference-Header-Content-Length"] = header_length
end
