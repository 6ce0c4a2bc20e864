#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, as one script for a lent GPU machine with little time:
#   scripts/gpu-bundle.sh            (here, after a build with COTANGENT_CUDA=ON and benchmarks)
#   scripts/gpu-check.sh             (there, from the repository root, with .gpu/ carried over)
# It runs from .gpu/bundle.tar.xz when present (binaries, their non-CUDA libraries, kernels
# compiled ahead, MNIST), else from build/ (configured and built first when missing). Each stage
# has its own time limit and log, and a failure in one does not stop the next:
#   a. the GPU tests: the op tables on cuda:0 and the CudaDevice tests
#   b. build/bench/cuda_bench and bench/torch_twin.py, and a table of their ratios
#   c. one epoch of the talk's CNN on MNIST with --device cuda, if the MNIST files are here
#   d. --deterministic on the CPU: 1 thread against all the machine's cores (bench/deterministic.sh)
# GPU_CHECK_ONLY=gpu-tests,deterministic runs only the stages named (a stage's log name).
# Logs go to a folder packed at the end into "$OUT/gpu-check.tgz" (when OUT is set) beside
# summary.txt, which holds each stage's exit status and seconds and is printed at the end. The
# whole run stays within GPU_CHECK_BUDGET_S seconds (default 470): a stage gets what is left when
# that is less than its own limit, and is skipped when under 15 s is left.
set -euo pipefail

cd "$(dirname "$0")/.."
RESULTS="${OUT:-}"
OUT="$(mktemp -d /tmp/gpu-check.XXXXXX)"
BUDGET="${GPU_CHECK_BUDGET_S:-470}"

# Where the binaries are: the carried bundle, else build/.
if [[ -f .gpu/bundle.tar.xz ]]; then
  root=/tmp/cotangent-gpu
  rm -rf "$root" && mkdir -p "$root" && tar -C "$root" -xJf .gpu/bundle.tar.xz
  BIN="$root/bin" TESTS="$root/bin/cotangent_tests" BENCH_BIN="$root/bin/cuda_bench"
  CNN="$root/bin/mnist_cnn" OWN_LIBS="$root/lib"
  export CT_CACHE_DIR="$root/cuda-cache" COTANGENT_DATA="$root/mnist"
else
  BIN=build TESTS=build/tests/cotangent_tests BENCH_BIN=build/bench/cuda_bench
  CNN=build/examples/mnist_cnn OWN_LIBS=""
  export CT_CACHE_DIR="${CT_CACHE_DIR:-$PWD/build/cuda-cache}"
fi
# CUDA's libraries: the toolkit's, then those of the Python packages PyTorch brings (cuDNN).
cuda_libs="/usr/local/cuda/lib64"
python_libs="$(python3 -c 'import glob, os, nvidia; print(":".join(sorted(d for p in nvidia.__path__ for d in glob.glob(os.path.join(p, "*", "lib")))))' 2>/dev/null || true)"
export LD_LIBRARY_PATH="${OWN_LIBS:+$OWN_LIBS:}$cuda_libs${python_libs:+:$python_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONDONTWRITEBYTECODE=1
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
failed=0

note() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
# A stage's telling line (a test count, the last words of a log), under its row.
detail() { [[ -z $1 ]] || note "$(printf '%-16s %s' '' "$1")"; }

# stage NAME LIMIT_S COMMAND...: runs COMMAND under `timeout`, output to $OUT/NAME.log,
# and records its exit status (124: timed out) and seconds; never fails itself.
stage() {
  local name="$1" limit="$2"
  shift 2
  if [[ -n ${GPU_CHECK_ONLY:-} && ",$GPU_CHECK_ONLY," != *",$name,"* ]]; then
    note "$(printf '%-16s not asked for (GPU_CHECK_ONLY)' "$name")"
    return 0
  fi
  local left=$((BUDGET - SECONDS - 5))
  if ((left < 15)); then
    echo "skipped: the time budget of ${BUDGET}s is spent" >"$OUT/$name.log"
    note "$(printf '%-16s skipped (time budget of %ss spent)' "$name" "$BUDGET")"
    failed=1
    return 0
  fi
  ((limit > left)) && limit=$left
  local start=$SECONDS rc=0
  echo "== $name (limit ${limit}s): $*" >&2
  timeout -k 10 "$limit" "$@" >"$OUT/$name.log" 2>&1 || rc=$?
  note "$(printf '%-16s rc=%-4s %4ss  %s' "$name" "$rc" "$((SECONDS - start))" "$name.log")"
  ((rc == 0)) || failed=1
  return 0
}

commit="$(git rev-parse --short HEAD 2>/dev/null || echo 'unknown (not a git checkout)')"
note "gpu-check: $(date -u '+%Y-%m-%dT%H:%M:%SZ') on $(hostname), commit $commit"
note "CT_CACHE_DIR=$CT_CACHE_DIR"
note "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

# ---- The machine ---------------------------------------------------------------------------
{ nvidia-smi || echo "nvidia-smi failed: $?"; } >"$OUT/nvidia-smi.txt" 2>&1
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv ||
  echo "nvidia-smi --query-gpu failed: $?"; } >"$OUT/gpu.csv" 2>&1
note "gpu: $(tail -n +2 "$OUT/gpu.csv" | head -1)"
{ env -u LD_LIBRARY_PATH python3 -c 'import torch; print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version())' ||
  echo "python3 could not import torch: $?"; } >"$OUT/torch-version.txt" 2>&1
note "torch: $(tail -1 "$OUT/torch-version.txt")"

# ---- The build: as carried, or made here when there is none --------------------------------
if [[ -z $OWN_LIBS && ! -d build ]]; then
  note "build/ is missing: configuring and building (counts against the time budget)"
  stage configure 120 cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCOTANGENT_CUDA=ON -DCOTANGENT_BENCHMARKS=ON
  stage build 420 cmake --build build -j "$(nproc)"
fi

# Libraries the binaries need and the loader cannot find (CUDA, cuDNN, cuBLAS, NVRTC).
: >"$OUT/ldd.txt"
for binary in "$TESTS" "$BENCH_BIN" "$CNN"; do
  echo "## $binary" >>"$OUT/ldd.txt"
  if [[ -x $binary ]]; then
    { ldd "$binary" 2>&1 || true; } | grep -Ei 'cuda|cudnn|cublas|nvrtc|not found' >>"$OUT/ldd.txt" || true
  else
    echo "missing" >>"$OUT/ldd.txt"
  fi
done
note "ldd: $(grep -c 'not found' "$OUT/ldd.txt" || true) libraries not found, $(grep -c '^missing' "$OUT/ldd.txt" || true) binaries missing (ldd.txt)"

# ---- a. The GPU tests ------------------------------------------------------------------------
stage gpu-tests 240 "$TESTS" '--gtest_filter=*/cuda:Cuda*' --gtest_brief=0
detail "$(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/gpu-tests.log" | tr '\n' ' ' || true)"

# ---- b. The benchmark beside PyTorch ----------------------------------------------------------
BENCH="$OUT/bench.txt"
: >"$BENCH"
stage bench-cotangent 150 "$BENCH_BIN" --device cuda
cat "$OUT/bench-cotangent.log" >>"$BENCH" 2>/dev/null || true
stage bench-pytorch 150 env -u LD_LIBRARY_PATH python3 bench/torch_twin.py --device cuda
cat "$OUT/bench-pytorch.log" >>"$BENCH" 2>/dev/null || true

# Convolutions on NHWC directly (the default transposes to NCHW around cuDNN, whose FP32
# kernels are faster there): still correct, and how much slower.
stage tests-nhwc 60 env CT_CUDA_CONV_LAYOUT=nhwc "$TESTS" '--gtest_filter=*OpTable*/cuda:CudaDevice.Talk*'
stage bench-nhwc 60 env CT_CUDA_CONV_LAYOUT=nhwc "$BENCH_BIN" --device cuda --only cnn

# Where the GPU time of each figure goes, kernel by kernel (events around each launch, so the
# figures of this run are not the benchmark's).
stage profile 60 env CT_CUDA_PROFILE=1 "$BENCH_BIN" --device cuda --only mlp,cnn --steps 50 --steps-1024 20 --warmup 5

# Per figure: cotangent's speed over PyTorch's (images/s over images/s; for add1, PyTorch's
# microseconds per op over cotangent's), so above 1 means cotangent is faster either way.
awk '
  BEGIN {
    split("mlp batch=128|mlp batch=1024|cnn batch=128|cnn batch=1024|add1", known, "|")
    for (i = 1; i in known; ++i) { order[++n] = known[i]; seen[known[i]] = 1 }
    unit["add1"] = "us/op"
  }
  $1 == "cotangent" || $1 == "pytorch" {
    side = $1; key = ""; value = ""
    for (i = 2; i <= NF; ++i) {
      if ($i ~ /^images_per_s=/) { value = substr($i, 14); break }
      if ($i ~ /^us_per_op=/) { value = substr($i, 11); break }
      if ($i ~ /^error=/) { value = "error"; break }
      key = key (key == "" ? "" : " ") $i
    }
    if (value == "") next
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    figure[side, key] = value
    if ($0 ~ /us_per_op=/) unit[key] = "us/op"
  }
  END {
    printf "%-16s %-9s %12s %12s %10s\n", "figure", "unit", "cotangent", "pytorch", "cot/torch"
    for (i = 1; i <= n; ++i) {
      k = order[i]; c = figure["cotangent", k]; p = figure["pytorch", k]
      u = (k in unit) ? unit[k] : "images/s"
      ratio = "-"
      if (c + 0 > 0 && p + 0 > 0) ratio = sprintf("%.3f", u == "us/op" ? p / c : c / p)
      printf "%-16s %-9s %12s %12s %10s\n", k, u, (c == "" ? "-" : c), (p == "" ? "-" : p), ratio
    }
  }' "$BENCH" >"$OUT/compare.txt" || echo "awk failed" >"$OUT/compare.txt"
{ echo; echo "# cotangent / pytorch (speed ratio; above 1: cotangent faster)"; cat "$OUT/compare.txt"; } >>"$BENCH"

# ---- c. One CNN epoch on the GPU, if MNIST is here ------------------------------------------
mnist=""
for dir in "${COTANGENT_DATA:-}" build/mnist "${XDG_CACHE_HOME:-$HOME/.cache}/cotangent/datasets/mnist"; do
  if [[ -n $dir && ( -f $dir/train-images-idx3-ubyte || -f $dir/train-images-idx3-ubyte.gz ) ]]; then
    mnist="$dir"
    break
  fi
done
if [[ -n $mnist ]]; then
  stage mnist-cnn-epoch 120 env COTANGENT_DATA="$(cd "$mnist" && pwd)" \
    "$CNN" 1 --device cuda
  detail "$(grep -v '^\s*$' "$OUT/mnist-cnn-epoch.log" | tail -1 || true)"
else
  note "$(printf '%-16s skipped (no MNIST files in COTANGENT_DATA, build/mnist or the user cache)' mnist-cnn-epoch)"
fi

# ---- d. Deterministic mode on many cores (the CPU path; the GPU machine has more of them) ------
if [[ -n $mnist ]]; then
  tools="$(mktemp -d)"
  cli="$BIN/cotangent"
  [[ -x $cli ]] || cli=build/tools/cotangent
  mkdir -p "$tools/tools" && ln -s "$(cd "$(dirname "$cli")" && pwd)/cotangent" "$tools/tools/cotangent"
  stage deterministic 240 env COTANGENT_DATA="$(cd "$mnist" && pwd)" bench/deterministic.sh "$tools" "$(nproc)"
  detail "$(grep -E 'threads' "$OUT/deterministic.log" | tr '\n' ';' || true)"
fi

note "total ${SECONDS}s; $([[ $failed == 0 ]] && echo 'every stage passed' || echo 'some stage failed or was skipped')"

# ---- Report ----------------------------------------------------------------------------------
echo
echo "===== $OUT/summary.txt"
cat "$SUMMARY"
echo
echo "===== $OUT/compare.txt"
cat "$OUT/compare.txt"
for log in "$OUT"/gpu-tests.log "$OUT"/deterministic.log "$OUT"/bench-*.log "$OUT"/mnist-cnn-epoch.log "$OUT"/profile.log "$OUT"/tests-nhwc.log; do
  [[ -f $log ]] || continue
  echo
  echo "===== tail of $log"
  if [[ $log == */profile*.log ]]; then grep -E '^# (profile|  )' "$log" | head -60; else tail -n 20 "$log"; fi
done
if [[ -n $RESULTS ]]; then
  cp "$SUMMARY" "$OUT/compare.txt" "$RESULTS/" 2>/dev/null || true
  tar -C "$OUT" -czf "$RESULTS/gpu-check.tgz" .
fi
exit "$failed"
