#!/usr/bin/env bash
# What --deterministic costs: one epoch of the talk's MLP and CNN on 12,800 MNIST images at the
# given thread count, with and without it, side by side (best of 3 each), and whether 1 and N
# threads give the same parameters with it.
#   bench/deterministic.sh BUILD_DIR [THREADS]
set -euo pipefail
cli="$1/tools/cotangent"
threads="${2:-$(nproc)}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
grep -m1 "model name" /proc/cpuinfo
common=(--dataset mnist --limit 12800 --epochs 1 --batch-size 128 --seed 1 --no-download -q)
best() {  # best of 3 wall-clock seconds of a training run
  local b=999
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N); "$cli" train "${common[@]}" "$@" --output "$work/run" > /dev/null; e=$(date +%s.%N)
    b=$(awk -v b="$b" -v s="$s" -v e="$e" 'BEGIN { t = e - s; print (t < b ? t : b) }')
  done
  echo "$b"
}
for model in mlp cnn; do
  plain=$(best --model "$model" --threads "$threads")
  fixed=$(best --model "$model" --threads "$threads" --deterministic)
  awk -v m="$model" -v p="$plain" -v f="$fixed" -v t="$threads" \
    'BEGIN { printf "%s, %d threads: %.2f s, --deterministic %.2f s (%.2fx)\n", m, t, p, f, f / p }'
  for t in 1 "$threads"; do
    "$cli" train "${common[@]}" --model "$model" --threads "$t" --deterministic --checkpoint-every 1000 \
      --output "$work/t$t" > /dev/null
    "$cli" train "${common[@]}" --model "$model" --threads "$t" --checkpoint-every 1000 \
      --output "$work/plain$t" > /dev/null
  done
  sha() { python3 -c "import json,struct,sys; d=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',d[:8])[0]; print(json.loads(d[8:8+n])['__metadata__']['cotangent.data_sha256'])" "$1"; }
  if [ "$(sha "$work/t1/checkpoint.safetensors")" = "$(sha "$work/t$threads/checkpoint.safetensors")" ]; then
    echo "$model: --deterministic, 1 and $threads threads: the same parameters (SHA-256 of the tensors)"
  else
    echo "$model: --deterministic, 1 and $threads threads: DIFFERENT parameters"
  fi
  if [ "$(sha "$work/plain1/checkpoint.safetensors")" = "$(sha "$work/plain$threads/checkpoint.safetensors")" ]; then
    echo "$model: without it, 1 and $threads threads: the same parameters"
  else
    echo "$model: without it, 1 and $threads threads: different parameters (as documented)"
  fi
done
