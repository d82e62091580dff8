-- wrk script of scripts/cluster-bench.sh: POST /api/v1/analyze with inline transactions
-- (a handful of shapes that trigger different rules; the rules generator answers).
-- The API key comes from BENCH_KEY. Prints one RESULT line for the shell to read.
local key = os.getenv("BENCH_KEY") or error("BENCH_KEY is not set")
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}
local shapes = {
  -- type, amount, destination, pep, kyc
  {"CASH_DEPOSIT", 12500.0, "US", "false", "COMPLETE"},
  {"WIRE", 4000.0, "DE", "false", "COMPLETE"},
  {"WIRE", 7000.0, "IR", "false", "COMPLETE"},
  {"ACH", 900.0, "US", "true", "COMPLETE"},
  {"CARD", 150.0, "US", "false", "PENDING"},
}
local n = 0

function setup(thread)
  thread:set("prefix", tostring(math.random(1, 1000000000)))
end

function request()
  n = n + 1
  local s = shapes[(n % #shapes) + 1]
  local customer = "BC" .. (n % 30)
  local body = string.format(
    '{"transaction":{"transaction_id":"BENCH-%s-%d","customer_id":"%s","amount":%.2f,"currency":"USD",' ..
    '"transaction_type":"%s","direction":"OUTBOUND","origin_country":"US","destination_country":"%s",' ..
    '"timestamp":"2026-04-14T10:05:00Z"},"customer":{"customer_id":"%s","name":"Bench Customer",' ..
    '"customer_type":"INDIVIDUAL","risk_rating":"LOW","kyc_status":"%s","is_pep":%s,"country":"US"}}',
    prefix, n, customer, s[2], s[1], s[3], customer, s[5], s[4])
  return wrk.format("POST", "/api/v1/analyze", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d socket=%d p50_ms=%.1f p99_ms=%.1f\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
