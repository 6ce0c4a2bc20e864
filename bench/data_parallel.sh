#!/usr/bin/env bash
# Data-parallel training on one machine: 2 ranks × 1 thread (cotangent launch) against
# 1 process × 2 threads, for the talk's MLP and CNN; images/s of an epoch and the share of
# training time rank 0 spent in collectives.
#   bench/data_parallel.sh [BUILD_DIR] [IMAGES]        (defaults: build 12800)
set -euo pipefail
build="${1:-build}"
images="${2:-12800}"
cli="$build/tools/cotangent"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(nproc) cores; batch 128 (global), 1 epoch of $images MNIST images"
printf '%-6s %-22s %12s %14s\n' model layout images/s collectives
for model in mlp cnn; do
  run=(train --model "$model" --limit "$images" --epochs 1 --batch-size 128 --seed 1 --no-download)
  one=$("$cli" "${run[@]}" --threads 2 --output "$work/one-$model" 2>&1)
  two=$("$cli" launch --nproc 2 -- "$cli" "${run[@]}" --threads 1 --output "$work/two-$model" 2>&1)
  rate() { grep -o '[0-9]* images/s' <<<"$1" | head -1 | cut -d' ' -f1; }
  share=$(grep -o '([0-9]*%)' <<<"$two" | tr -d '()')
  printf '%-6s %-22s %12s %14s\n' "$model" "1 process x 2 threads" "$(rate "$one")" "-"
  printf '%-6s %-22s %12s %14s\n' "$model" "2 ranks x 1 thread" "$(rate "$two")" "$share"
done
