#!/usr/bin/env bash
# Speed and memory against LibTorch on the talk's models, side by side in one run:
#   bench/compare.sh [EPOCHS] [TRAINING_LIMIT]
# Builds the benchmarks (with LibTorch from Debian's libtorch-dev), measures the machine's fp32
# peak, then alternates cotangent, LibTorch out of the box and LibTorch tuned by hand
# (OMP_WAIT_POLICY=PASSIVE, glibc malloc thresholds raised) for each model, and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1}
limit=${2:-60000}
dpkg -s libtorch-dev >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libtorch-dev >/dev/null; }
cmake --preset bench >/dev/null
cmake --build build-bench --target train_cotangent train_libtorch peak_flops ops_bench >/dev/null
peak=$(build-bench/bench/peak_flops)
tuned=(env OMP_WAIT_POLICY=PASSIVE MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_TOP_PAD_=1000000000)
results=$(mktemp)
for model in mlp cnn; do
  flops=$([ "$model" = mlp ] && echo 241e9 || echo 5.69e12)  # training FLOPs of one epoch of 60,000 images
  for round in 1 2; do
    build-bench/bench/train_cotangent $model "$epochs" "$limit" | sed "s/}$/, \"variant\": \"cotangent\", \"round\": $round, \"epoch_flops\": $flops}/" >> "$results"
    build-bench/bench/train_libtorch $model "$epochs" "$limit" | sed "s/}$/, \"variant\": \"libtorch\", \"round\": $round, \"epoch_flops\": $flops}/" >> "$results"
    "${tuned[@]}" build-bench/bench/train_libtorch $model "$epochs" "$limit" | sed "s/}$/, \"variant\": \"libtorch-tuned\", \"round\": $round, \"epoch_flops\": $flops}/" >> "$results"
  done
done
overheads=$(mktemp)
for round in 1 2; do
  build-bench/bench/train_cotangent overhead | sed "s/}$/, \"variant\": \"cotangent\"}/" >> "$overheads"
  build-bench/bench/train_libtorch overhead | sed "s/}$/, \"variant\": \"libtorch\"}/" >> "$overheads"
  "${tuned[@]}" build-bench/bench/train_libtorch overhead | sed "s/}$/, \"variant\": \"libtorch-tuned\"}/" >> "$overheads"
done
/usr/bin/python3 - "$results" "$peak" "$limit" "$overheads" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
overheads = [json.loads(line) for line in open(sys.argv[4])]
peak, limit = float(sys.argv[2]), int(sys.argv[3])
print(f"machine fp32 peak: {peak:.0f} GFLOP/s; images per epoch: {limit}")
print(f"{'model':5} {'variant':15} {'s/epoch':>8} {'images/s':>9} {'% peak':>7} {'peak RSS MiB':>12} {'accuracy':>8}")
best = {}
for r in rows:
    key = (r["model"], r["variant"])
    if key not in best or r["images_per_second"] > best[key]["images_per_second"]:
        best[key] = r
for (model, variant), r in sorted(best.items()):
    gflops = r["epoch_flops"] / 60000 * r["images_per_second"] / 1e9
    print(f"{model:5} {variant:15} {r['seconds_per_epoch']:8.2f} {r['images_per_second']:9.0f} {100 * gflops / peak:6.1f}% {r['peak_rss_mib']:12.0f} {100 * r['test_accuracy']:7.2f}%")
for model in ("mlp", "cnn"):
    ours = best[(model, "cotangent")]["images_per_second"]
    print(f"{model}: {ours / best[(model, 'libtorch-tuned')]['images_per_second']:.2f}x LibTorch tuned, "
          f"{ours / best[(model, 'libtorch')]['images_per_second']:.2f}x LibTorch out of the box")
print()
print(f"{'per-op overhead':15} {'a + b ns':>9} {'recorded ns':>11} {'MLP step, batch 1 us':>21} {'as two calls us':>16}   (best of two runs)")
for variant in ("cotangent", "libtorch", "libtorch-tuned"):
    mine = [r for r in overheads if r["variant"] == variant]
    print(f"{variant:15} {min(r['add_ns'] for r in mine):9.0f} {min(r['add_recorded_ns'] for r in mine):11.0f} "
          f"{min(r['mlp_step_batch1_us'] for r in mine):21.0f} {min(r['mlp_two_calls_batch1_us'] for r in mine):16.0f}")
PY
