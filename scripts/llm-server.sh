#!/usr/bin/env bash
# Run the local OpenAI-compatible LLM server (llama-cpp-python + SmolLM2-135M-Instruct)
# that scripts/setup-llm.sh installed.
#
#   scripts/llm-server.sh start|stop|status
#
#   REAGENT_CACHE      cache folder (default: <repo>/.cache)
#   REAGENT_LLM_PORT   port on 127.0.0.1 (default: 8088)
#
# `start` returns once GET /v1/models answers (or fails after 120 s) and prints the
# base URL, e.g. http://127.0.0.1:8088/v1. It is idempotent: a running server is kept.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${REAGENT_CACHE:-$root/.cache}"
venv="$cache/llm-venv"
model="$cache/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
port="${REAGENT_LLM_PORT:-8088}"
run_dir="$cache/llm-server"
pid_file="$run_dir/server-$port.pid"
log_file="$run_dir/server-$port.log"
url="http://127.0.0.1:$port/v1"

say() { printf 'llm-server: %s\n' "$*" >&2; }

running() {
  [ -f "$pid_file" ] || return 1
  local pid; pid="$(cat "$pid_file" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

answers() {
  python3 - "$url/models" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

case "${1:-status}" in
  start)
    if running && answers; then
      say "already running (pid $(cat "$pid_file")) at $url"
      echo "$url"; exit 0
    fi
    [ -x "$venv/bin/python" ] && [ -s "$model" ] || { say "not installed; run scripts/setup-llm.sh first"; exit 1; }
    mkdir -p "$run_dir"
    if running; then kill "$(cat "$pid_file")" 2>/dev/null || true; sleep 1; fi
    nohup "$venv/bin/python" -m llama_cpp.server --model "$model" --model_alias smollm2-135m-instruct \
      --host 127.0.0.1 --port "$port" --n_ctx 4096 >"$log_file" 2>&1 &
    echo $! >"$pid_file"
    for _ in $(seq 1 240); do
      if answers; then say "started (pid $(cat "$pid_file")) at $url; log $log_file"; echo "$url"; exit 0; fi
      running || { say "server exited; see $log_file"; tail -n 20 "$log_file" >&2 || true; exit 1; }
      sleep 0.5
    done
    say "server did not answer within 120 s; see $log_file"
    exit 1
    ;;
  stop)
    if running; then
      pid="$(cat "$pid_file")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      say "stopped (pid $pid)"
    else
      say "not running"
    fi
    rm -f "$pid_file"
    ;;
  status)
    if running && answers; then say "running (pid $(cat "$pid_file")) at $url"; echo "$url"
    elif running; then say "process $(cat "$pid_file") alive but $url does not answer"; exit 1
    else say "not running"; exit 3
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
