-- wrk script of scripts/load.sh and scripts/cluster-bench.sh: POST /api/v1/analyze with
-- inline transactions of six shapes that trigger different rules, round robin (the
-- rules generator answers). The API key comes from WRK_API_KEY. Prints one RESULT line
-- for the calling script to read.
local key = os.getenv("WRK_API_KEY") or error("WRK_API_KEY is not set")
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}
local shapes = {
  -- type, amount, destination country, PEP, KYC status
  {"CASH_DEPOSIT", 15000.0, "US", "false", "COMPLETE"},
  {"WIRE", 5000.0, "IT", "false", "COMPLETE"},
  {"WIRE", 9000.0, "CU", "false", "COMPLETE"},
  {"ACH", 300.0, "US", "true", "COMPLETE"},
  {"CARD", 200.0, "US", "false", "PENDING"},
  {"ACH", 250.0, "US", "false", "COMPLETE"},
}
local n = 0

request = function()
  n = n + 1
  local s = shapes[(n % #shapes) + 1]
  local c = "LC" .. (n % 50)
  local body = string.format('{"transaction":{"transaction_id":"LOAD%d","customer_id":"%s","amount":%.1f,"currency":"USD","transaction_type":"%s","direction":"OUTBOUND","origin_country":"US","destination_country":"%s","timestamp":"2026-03-10T14:20:00Z"},"customer":{"customer_id":"%s","name":"Load Tester","customer_type":"INDIVIDUAL","risk_rating":"LOW","kyc_status":"%s","is_pep":%s,"country":"US"}}',
    n, c, s[2], s[1], s[3], c, s[5], s[4])
  return wrk.format("POST", "/api/v1/analyze", headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000))
end
