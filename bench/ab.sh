#!/usr/bin/env bash
# Speed and memory of this tree against an earlier commit, side by side in one run:
#   bench/ab.sh BASE_COMMIT [ROUNDS] [CNN_IMAGES]
# Builds train_cotangent at BASE_COMMIT (in a worktree under build-ab/) and here, then alternates
# the two on the talk's MLP (one epoch of MNIST) and CNN (one epoch of CNN_IMAGES images), and on
# the per-op overheads (a + b, recorded a + b, the batch-1 MLP step). Prints the best of ROUNDS
# per side and the ratio new/base. BASE_BUILD=DIR uses a base build made before.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench/ab.sh BASE_COMMIT [ROUNDS] [CNN_IMAGES]}
rounds=${2:-3}
cnn_images=${3:-6000}
configure=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCOTANGENT_BENCHMARKS=ON -DCOTANGENT_TESTS=OFF)
if [ -z "${BASE_BUILD:-}" ]; then
  rm -rf build-ab/base && git worktree prune
  git worktree add --detach build-ab/base "$base" >/dev/null
  cmake -S build-ab/base -B build-ab/base/build "${configure[@]}" >/dev/null
  cmake --build build-ab/base/build --target train_cotangent >/dev/null
  BASE_BUILD=build-ab/base/build
fi
cmake -S . -B build-ab/new "${configure[@]}" >/dev/null
cmake --build build-ab/new --target train_cotangent >/dev/null
results=$(mktemp)
for round in $(seq "$rounds"); do
  for side in base new; do
    binary=$([ $side = base ] && echo "$BASE_BUILD" || echo build-ab/new)/bench/train_cotangent
    for run in "mlp 1" "cnn 1 $cnn_images" "overhead"; do
      # shellcheck disable=SC2086
      "$binary" $run | sed "s/}$/, \"ab\": \"$side\"}/" >> "$results"
    done
  done
done
/usr/bin/python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def best(side, key, pick=max, model=None):
    values = [r[key] for r in rows if r["ab"] == side and key in r and (model is None or r.get("model") == model)]
    return pick(values)
print(f"{'measure':34} {'base':>10} {'new':>10} {'new/base':>9}")
for model in ("mlp", "cnn"):
    for key, pick, unit in (("images_per_second", max, "images/s"), ("peak_rss_mib", min, "peak RSS MiB")):
        b, n = best("base", key, pick, model), best("new", key, pick, model)
        print(f"{model + ' ' + unit:34} {b:10.1f} {n:10.1f} {n / b:9.3f}")
for key, label in (("add_ns", "a + b ns"), ("add_recorded_ns", "recorded a + b ns"),
                   ("mlp_step_batch1_us", "MLP step, batch 1, us")):
    b, n = best("base", key, min), best("new", key, min)
    print(f"{label:34} {b:10.1f} {n:10.1f} {n / b:9.3f}")
PY
