#!/usr/bin/env bash
# The command line end to end on a small slice of MNIST: train with checkpoints, resume a run
# from its checkpoint, check it ends byte-for-byte where an uninterrupted run ends, evaluate.
set -euo pipefail
cli="$1"
work="$2"
rm -rf "$work" && mkdir -p "$work"
common=(--model mlp --dataset mnist --batch-size 64 --limit 640 --seed 5 --no-download --checkpoint-every 4)

"$cli" train "${common[@]}" --epochs 2 --output "$work/straight" > "$work/straight.log"
"$cli" train "${common[@]}" --epochs 1 --output "$work/first" > "$work/first.log"
cp -r "$work/first" "$work/resumed"
"$cli" train "${common[@]}" --epochs 2 --resume "$work/resumed" --output "$work/resumed" > "$work/resumed.log"
grep -q "Resuming at epoch 2, batch 0" "$work/resumed.log"
# The same tensors, bit for bit, and the same metadata but for the epochs' timings.
python3 - "$work/straight/checkpoint.safetensors" "$work/resumed/checkpoint.safetensors" <<'PY'
import json, struct, sys
def read(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    history = meta.pop("history", "")
    # epoch, losses and accuracies are exact; seconds and images/s are timings
    meta["history"] = [row.split()[:5] for row in history.split(";")]
    body = data[8 + n:]
    tensors = {k: body[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items()}
    return tensors, meta
a, b = read(sys.argv[1]), read(sys.argv[2])
assert a[0] == b[0], "the resumed run's tensors differ"
assert a[1] == b[1], f"the resumed run's metadata differs: {a[1]} vs {b[1]}"
PY
grep -q '"epochs": 2,' "$work/resumed/summary.json"
[ "$(wc -l < "$work/resumed/metrics.csv")" -eq 3 ]
grep -q '"final_test_accuracy"' "$work/straight/summary.json"
[ "$(wc -l < "$work/straight/metrics.csv")" -eq 3 ]

# A cosine schedule and early stopping from the command line; TensorBoard's event file.
"$cli" train "${common[@]}" --epochs 3 --schedule cosine --early-stop 1 --tensorboard "$work/tb" \
  --output "$work/cosine" > "$work/cosine.log"
head -1 "$work/cosine/metrics.csv" | grep -q ",learning_rate$"
# The rate at each epoch's last step falls, near 0 at the last of the 30 steps.
awk -F, 'NR > 1 { if (NR > 2 && $8 >= last) exit 1; last = $8 } END { if (last > 1e-3) exit 1 }' "$work/cosine/metrics.csv"
grep -q '"schedule": "cosine"' "$work/cosine/summary.json"
ls "$work/tb"/events.out.tfevents.*.cotangent > /dev/null

# Terminal conventions: the progress bar only on a terminal (on stderr), never wider than the
# terminal; -q prints the outcome alone; -v adds the running loss.
small=(--model mlp --dataset mnist --batch-size 64 --limit 640 --seed 5 --no-download --epochs 1)
tty_out=$(COLUMNS=50 script -qec "$cli train ${small[*]} --output $work/tty" /dev/null)
[[ "$tty_out" == *$'\r'"Epoch 1/1 ["* ]] || { echo "no progress bar on a terminal"; exit 1; }
widest=$(printf '%s' "$tty_out" | tr '\r' '\n' | awk '/images\/s/ && /\[/ { if (length > m) m = length } END { print m + 0 }')
[ "$widest" -ge 30 ] && [ "$widest" -le 49 ] || { echo "a progress line of $widest columns on a 50-column terminal"; exit 1; }
piped=$("$cli" train "${small[@]}" --output "$work/piped" 2>&1)
[[ "$piped" != *$'\r'* ]] || { echo "a progress bar went to a pipe"; exit 1; }
quiet=$("$cli" train "${small[@]}" -q --output "$work/quiet" 2>&1)
[ "$(printf '%s\n' "$quiet" | wc -l)" -eq 1 ] && [[ "$quiet" == "Final test accuracy"* ]] ||
  { echo "-q printed more than the outcome: $quiet"; exit 1; }
verbose=$("$cli" train "${small[@]}" --limit 1280 -v --output "$work/verbose" 2>&1)
[ "$(grep -c 'running loss' <<<"$verbose")" -eq 0 ] && { echo "-v printed no running loss"; exit 1; }

"$cli" evaluate --checkpoint "$work/straight/checkpoint.safetensors" --dataset mnist --no-download > "$work/evaluate.log"
grep -q "accuracy" "$work/evaluate.log"
accuracy=$(sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' "$work/evaluate.log")
awk -v a="$accuracy" 'BEGIN { exit !(a > 70) }'

# The same run on the lazy device: compiled programs, the same checkpoint format, and accuracy
# within a point of eager's (summation order differs); a summary line of what was compiled.
"$cli" train "${common[@]}" --epochs 2 --device lazy --output "$work/lazy" > "$work/lazy.log"
grep -q "lazy device: .* compiles" "$work/lazy.log"
python3 - "$work/straight/summary.json" "$work/lazy/summary.json" <<'PY'
import json, sys
eager, lazy = (json.load(open(p))["final_test_accuracy"] for p in sys.argv[1:])
assert abs(eager - lazy) <= 0.01, f"lazy accuracy {lazy} vs eager {eager}"
PY

# Bad input is a clear error, not a crash.
if "$cli" train --model nope > "$work/bad.log" 2>&1; then exit 1; fi
grep -q "not one of mlp, cnn, lenet" "$work/bad.log"
if "$cli" evaluate --checkpoint "$work/missing.safetensors" > "$work/bad.log" 2>&1; then exit 1; fi
grep -q "cannot open" "$work/bad.log"
echo "command line: ok"
