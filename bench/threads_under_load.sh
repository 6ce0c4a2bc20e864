#!/usr/bin/env bash
# Training speed on an idle machine and beside a competing busy process, for each way OpenMP's
# idle threads can wait:
#   bench/threads_under_load.sh [MODEL] [IMAGES] [ROUNDS]
# "library default" is what cotangent chooses when the user sets nothing (a short spin, see
# src/backend/cpu/threads.cpp); "libgomp default" is libgomp's own (300,000 spins), which the
# library used before; PASSIVE sleeps at once; --threads 1 uses one core. Prints the median
# seconds per epoch of each and its ratio to the idle library default.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-mlp}
images=${2:-20000}
rounds=${3:-3}
cli=build/tools/cotangent
[ -x "$cli" ] || cmake --build build --target cotangent_cli >/dev/null
work=$(mktemp -d)
trap 'kill $busy 2>/dev/null || true; rm -rf "$work"' EXIT
busy=""

run() {  # label, then env assignments / extra flags; prints "label seconds"
  local label="$1"
  shift
  local environment=() flags=()
  for a in "$@"; do [[ "$a" == *=* ]] && environment+=("$a") || flags+=("$a"); done
  env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "${environment[@]}" "$cli" train --model "$model" \
    --epochs 1 --limit "$images" --no-download --output "$work/run" "${flags[@]}" > /dev/null
  /usr/bin/python3 -c 'import json,sys; print(sys.argv[1], json.load(open(sys.argv[2]))["seconds_per_epoch"])' \
    "$label" "$work/run/summary.json"
}

variants=("library-default" "libgomp-default GOMP_SPINCOUNT=300000" "passive OMP_WAIT_POLICY=PASSIVE" "spin-10000 GOMP_SPINCOUNT=10000"
          "spin-100 GOMP_SPINCOUNT=100" "one-thread --threads 1")
results="$work/results"
for load in idle busy; do
  if [ "$load" = busy ]; then
    sh -c 'while :; do :; done' &  # one process that wants a core all the time
    busy=$!
  fi
  for _ in $(seq "$rounds"); do
    for v in "${variants[@]}"; do
      read -r -a parts <<< "$v"
      echo "$load $(run "${parts[@]}")" >> "$results"
    done
  done
done
kill "$busy" 2>/dev/null || true

cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
echo "CPU: $cpu, $(nproc) cores; $model, $images images per epoch, median of $rounds rounds"
/usr/bin/python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
seconds = {}
for load, label, s in rows:
    seconds.setdefault((load, label), []).append(float(s))
base = statistics.median(seconds[("idle", "library-default")])
print(f"{'waiting':18} {'idle s/epoch':>12} {'ratio':>6} {'busy s/epoch':>12} {'ratio':>6}")
for label in dict.fromkeys(label for _, label, _ in rows):
    idle = statistics.median(seconds[("idle", label)])
    busy = statistics.median(seconds[("busy", label)])
    print(f"{label:18} {idle:12.2f} {idle / base:6.2f} {busy:12.2f} {busy / base:6.2f}")
PY
