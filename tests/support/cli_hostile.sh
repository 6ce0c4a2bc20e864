#!/usr/bin/env bash
# Careless and hostile use of the command line: each case must end with a clear message and
# the right exit status, never a crash, a silent default or lost results.
set -uo pipefail
cli="$1"
work="$2"
unset GOMP_SPINCOUNT OMP_WAIT_POLICY
rm -rf "$work" && mkdir -p "$work"
failures=0
quick=(--model mlp --dataset mnist --limit 640 --seed 5 --no-download)
batch=(--batch-size 64)

# shellcheck source=expect.sh
source "$(dirname "$0")/expect.sh"

# Options: unknown, misspelt, malformed, out of range.
expect 1 "unknown option --epoch (did you mean --epochs?)" -- train --epoch 1
expect 1 "unknown option --lr (did you mean --learning-rate?)" -- train --lr 5
expect 1 "unknown option --bogus" -- evaluate --bogus
expect 1 "unexpected argument 'mlp'" -- train mlp
expect 1 "unknown command 'trian'" -- trian
expect 1 "--epochs abc: not a whole number" -- train --epochs abc
expect 1 "--learning-rate 0.1abc: not a number" -- train --learning-rate 0.1abc
expect 1 "--learning-rate nan: not a finite number" -- train --learning-rate nan
expect 1 "--learning-rate inf: not a finite number" -- train --learning-rate inf
expect 1 "--learning-rate 0: out of range" -- train --learning-rate 0
expect 1 "--learning-rate -0.1: out of range" -- train --learning-rate -0.1
expect 1 "--epochs -1: out of range" -- train --epochs -1
expect 1 "--epochs 0: out of range" -- train --epochs 0
expect 1 "--limit 0: out of range (at least 1)" -- train --limit 0
expect 1 "--schedule linear: not one of constant, cosine, step" -- train --schedule linear
expect 1 "--quiet and --verbose: choose one" -- train -q -v
expect 1 "give --early-stop N too" -- train --monitor test_accuracy
expect 1 "--early-stop 0: out of range (at least 1)" -- train --early-stop 0
expect 1 "--monitor acc: not one of test_loss" -- train --early-stop 2 --monitor acc
expect 1 "--epochs 99999999999999999999: out of range" -- train --epochs 99999999999999999999
expect 1 "--batch-size 0: out of range" -- train --batch-size 0
expect 1 "--limit 0: out of range" -- train --limit 0
expect 1 "--seed -3: out of range" -- train --seed -3
expect 1 "--threads 0: out of range" -- train --threads 0
expect 1 "--epochs ' 3'" -- train --epochs " 3"
expect 1 "--epochs needs a value" -- train --epochs
expect 1 "--epochs abc: not a whole number" -- train --epochs 1 --epochs abc  # each value is checked
expect 1 "--no-download takes no value" -- train --no-download=yes
expect 1 "--model resnet: not one of mlp, cnn, lenet" -- train --model resnet
expect 1 "--device tpu: not one of cpu, lazy, cuda" -- train --device tpu
# Without a GPU (or a CUDA build), the GPU is refused with the reason, before any training.
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi >/dev/null 2>&1; then
  expect 1 "cuda:0: " -- train "${quick[@]}" --device cuda --epochs 1 --output "$work/no-gpu"
fi
expect 1 "--checkpoint FILE is required" -- evaluate
expect 0 "usage: cotangent train" -- train -h
expect 0 "usage: cotangent evaluate" -- evaluate --help
expect 0 "usage: cotangent train" -- --help
expect 2 "usage:" --

# Nothing to train on is an error, not "accuracy 0.00%" over an earlier summary.
expect 1 "--batch-size 1000 is larger than the 640 training images (--limit)" -- \
  train "${quick[@]}" --batch-size 1000 --epochs 1 --output "$work/empty"
[ -e "$work/empty/summary.json" ] && { echo "FAIL: a run with no steps wrote a summary"; failures=$((failures + 1)); }

# Output that cannot be written is refused before training.
touch "$work/file"
expect 1 "Not a directory" -- train "${quick[@]}" "${batch[@]}" --epochs 1 --output "$work/file/run"

# A second process on the same output directory.
mkdir -p "$work/locked"
flock "$work/locked/.lock" sleep 30 &
holder=$!
sleep 0.5
expect 1 "is in use by another cotangent process" -- train "${quick[@]}" "${batch[@]}" --epochs 1 --output "$work/locked"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

# OpenMP's idle threads spin briefly unless the user chose otherwise.
expect 0 "(OpenMP GOMP_SPINCOUNT=1000)" -- train "${quick[@]}" "${batch[@]}" --epochs 1 --output "$work/spin"
OMP_WAIT_POLICY=PASSIVE expect 0 "(OpenMP OMP_WAIT_POLICY=PASSIVE)" -- train "${quick[@]}" "${batch[@]}" --epochs 1 --output "$work/spin"

# Divergence: a clear error, exit 1, valid JSON, the last good checkpoint kept.
expect 0 "Final test accuracy" -- train "${quick[@]}" "${batch[@]}" --epochs 1 --checkpoint-every 5 --output "$work/diverge"
cp "$work/diverge/checkpoint.safetensors" "$work/good.safetensors"
expect 1 "training diverged" -- train "${quick[@]}" "${batch[@]}" --epochs 3 --learning-rate 1000 --checkpoint-every 1 --output "$work/diverge"
if ! /usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["status"]=="diverged", s' "$work/diverge/summary.json"; then
  echo "FAIL: summary.json after divergence is not valid JSON saying 'diverged'"; failures=$((failures + 1))
fi
expect 0 "accuracy" -- evaluate --checkpoint "$work/diverge/checkpoint.safetensors" --no-download

# Resume: refused with other settings or when already finished; the history is kept.
"$cli" train "${quick[@]}" "${batch[@]}" --epochs 1 --checkpoint-every 4 --output "$work/run" > /dev/null
expect 1 "was trained with --batch-size 64, not 32" -- train "${quick[@]}" --batch-size 32 --epochs 2 --resume "$work/run" --output "$work/run"
expect 1 "was trained with --optimizer sgd, not adam" -- train "${quick[@]}" "${batch[@]}" --optimizer adam --learning-rate 0.1 --epochs 2 --resume "$work/run" --output "$work/run"
expect 1 "was trained with --dataset mnist, not fashion-mnist" -- train --model mlp --limit 640 --seed 5 --no-download "${batch[@]}" --dataset fashion-mnist --epochs 2 --resume "$work/run" --output "$work/run"
expect 1 "was trained with --schedule constant, not cosine" -- train "${quick[@]}" "${batch[@]}" --schedule cosine --epochs 2 --resume "$work/run" --output "$work/run"
expect 1 "was trained with --limit 640, not none" -- train --model mlp --batch-size 64 --seed 5 --no-download --epochs 2 --resume "$work/run" --output "$work/run"
expect 1 "has already trained its 1 epochs" -- train "${quick[@]}" "${batch[@]}" --epochs 1 --resume "$work/run" --output "$work/run"
grep -q '"epochs": 1,' "$work/run/summary.json" || { echo "FAIL: a refused resume changed the summary"; failures=$((failures + 1)); }
expect 0 "Resuming at epoch 2" -- train "${quick[@]}" "${batch[@]}" --epochs 2 --checkpoint-every 4 --resume "$work/run" --output "$work/run"
[ "$(wc -l < "$work/run/metrics.csv")" -eq 3 ] || { echo "FAIL: the resumed run lost the first epoch's row"; failures=$((failures + 1)); }
grep -q '"epochs": 2,' "$work/run/summary.json" || { echo "FAIL: the resumed run reports the wrong epoch count"; failures=$((failures + 1)); }

# Ctrl-C: the batch finishes, a checkpoint and a summary marked interrupted are written, exit 130.
"$cli" train "${quick[@]}" "${batch[@]}" --epochs 1000 --checkpoint-every 3 --output "$work/stop" > "$work/stop.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "^Epoch 2/" "$work/stop.log" && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" -ne 130 ] || ! grep -q '"status": "interrupted"' "$work/stop/summary.json" ||
   [ ! -s "$work/stop/checkpoint.safetensors" ]; then
  echo "FAIL: Ctrl-C -> exit $rc, summary:"; cat "$work/stop/summary.json"; failures=$((failures + 1))
fi
expect 0 "Resuming at epoch" -- train "${quick[@]}" "${batch[@]}" --epochs 4 --checkpoint-every 3 --resume "$work/stop" --output "$work/stop"
# Ctrl-C at any point of a run ends it cleanly: six runs interrupted at staggered times, one
# or two threads. (With a plain signal handler about half of these crashed: oneDNN's sgemm
# points rsp into the heap, and the handler's frame landed there.)
for i in 0 1 2 3 4 5; do
  rm -rf "$work/stop-$i"
  "$cli" train "${quick[@]}" "${batch[@]}" --epochs 1000 --threads $((1 + i % 2)) \
    --output "$work/stop-$i" > "$work/stop-$i.log" 2>&1 &
  pid=$!
  sleep "0.$((3 + i))"
  for _ in $(seq 100); do grep -q "^Training" "$work/stop-$i.log" && break; sleep 0.05; done
  sleep "0.$((i * 17 % 10))"
  kill -INT "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq 130 ] && grep -q "Interrupted after" "$work/stop-$i.log" ||
    { echo "FAIL: Ctrl-C #$i -> exit $rc: $(tail -2 "$work/stop-$i.log")"; failures=$((failures + 1)); }
done
# A second Ctrl-C exits at once.
"$cli" train "${quick[@]}" "${batch[@]}" --epochs 1000 --output "$work/stop2" > "$work/stop2.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "^Epoch 1/" "$work/stop2.log" && break; sleep 0.1; done
kill -INT "$pid"; sleep 0.05; kill -INT "$pid"  # apart: two pending SIGINTs merge into one
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || { echo "FAIL: a second Ctrl-C -> exit $rc"; failures=$((failures + 1)); }

# The talk's example programs check their one argument too.
example="$3"
for bad in abc 0 -2 12abc; do
  out=$("$example" "$bad" 2>&1); rc=$?
  if [ "$rc" -ne 1 ] || [[ "$out" != *"is not a whole number from 1 up"* ]]; then
    echo "FAIL: $example $bad -> exit $rc: $out"; failures=$((failures + 1))
  fi
done
for bad in "--device gpu" "--device" "1 2" "--devices lazy"; do
  out=$("$example" $bad 2>&1); rc=$?
  if [ "$rc" -ne 1 ] || [[ "$out" != *"usage: "* ]]; then
    echo "FAIL: $example $bad -> exit $rc: $out"; failures=$((failures + 1))
  fi
done

if [ "$failures" -ne 0 ]; then
  echo "$failures hostile inputs were not handled"
  exit 1
fi
echo "hostile command lines: ok"
