#!/usr/bin/env bash
# `cotangent launch`: two ranks of `cotangent train` give the run one process gives at the same
# global batch, only rank 0 writes, and every careless or failing launch ends with a clear
# message and status, never a hang.
#   launch_check.sh COTANGENT_BINARY WORK_DIR
set -uo pipefail
cli="$1"
work="$2"
rm -rf "$work" && mkdir -p "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
quick=(--model mlp --dataset mnist --limit 1280 --epochs 1 --batch-size 64 --seed 3 --no-download --threads 1)

# Two ranks at batch 32 each, and one process at batch 64: the same metrics.
out=$(timeout 120 "$cli" launch --nproc 2 -- "$cli" train "${quick[@]}" --output "$work/two" 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "launch of 2 ranks -> exit $rc: $(echo "$out" | tail -3)"
[[ "$out" == *"2 ranks of batch 32"* ]] || fail "launch: no '2 ranks of batch 32' in: $out"
[[ "$out" == *"in collectives"* ]] || fail "launch: no communication share in: $out"
[ "$(grep -c '^Epoch 1/1' <<<"$out")" -eq 1 ] || fail "launch: rank 1 printed too: $out"
one=$(timeout 120 "$cli" train "${quick[@]}" --output "$work/one" 2>&1) || fail "one process failed: $one"
epoch_line() { grep '^Epoch 1/1' <<<"$1" | sed 's/  [0-9.]* s, [0-9]* images\/s//'; }
[ "$(epoch_line "$out")" = "$(epoch_line "$one")" ] ||
  fail "2 ranks and 1 process differ: '$(epoch_line "$out")' vs '$(epoch_line "$one")'"
[ -f "$work/two/summary.json" ] || fail "launch: rank 0 wrote no summary.json"
# The same seed gives the same data-parallel run twice.
again=$(timeout 120 "$cli" launch --nproc 2 -- "$cli" train "${quick[@]}" --output "$work/again" 2>&1) ||
  fail "second launch failed: $again"
[ "$(epoch_line "$out")" = "$(epoch_line "$again")" ] ||
  fail "two launches with one seed differ: '$(epoch_line "$out")' vs '$(epoch_line "$again")'"

# shellcheck source=expect.sh
source "$(dirname "$0")/expect.sh"
expect 1 "--nproc N is required" -- launch -- "$cli" train
expect 1 "--nproc 0: not a whole number in [1, 1024]" -- launch --nproc 0 -- "$cli" train
expect 1 "--nproc x: not a whole number" -- launch --nproc x -- "$cli" train
expect 1 "no command after --" -- launch --nproc 2 --
expect 1 "unexpected '--nprocs'" -- launch --nprocs 2 -- "$cli" train
expect 127 "cannot run no-such-program" -- launch --nproc 2 -- no-such-program
# Both ranks exit 3: the launcher names whichever it sees first.
expect 3 "exited with status 3" -- launch --nproc 2 -- sh -c 'exit 3'
expect 1 "--batch-size 63 does not split evenly over 2 ranks" -- \
  launch --nproc 2 -- "$cli" train "${quick[@]}" --batch-size 63 --output "$work/odd"

# A rank killed before it meets the others: the launcher stops the rest at once.
start=$SECONDS
expect 137 "rank 1 exited with status 137" -- launch --nproc 2 -- sh -c \
  'if [ "$RANK" = 1 ]; then kill -9 $$; fi; exec "$0" "$@"' "$cli" train "${quick[@]}" --output "$work/killed"
[ $((SECONDS - start)) -lt 20 ] || fail "the launcher took $((SECONDS - start)) s to stop after a lost rank"

# Checkpoints every 5 batches (between the log lines every 10) and a resume on 2 ranks.
out=$(timeout 120 "$cli" launch --nproc 2 -- "$cli" train "${quick[@]}" --checkpoint-every 5 \
  --output "$work/dp-ckpt" 2>&1) || fail "launch with checkpoints failed: $(echo "$out" | tail -3)"
out=$(timeout 120 "$cli" launch --nproc 2 -- "$cli" train "${quick[@]}" --epochs 2 \
  --resume "$work/dp-ckpt" --output "$work/dp-ckpt" 2>&1)
[ $? -eq 0 ] && [[ "$out" == *"Resuming at epoch 2"* ]] && [[ "$out" == *"Epoch 2/2"* ]] ||
  fail "resuming on 2 ranks: $(echo "$out" | tail -3)"

# Ctrl-C reaches both ranks, at several points of a run: they agree to stop after the same
# batch, rank 0 saves, the launcher waits for it, status 130. (A signal handler that ran on a
# thread inside oneDNN's sgemm corrupted the heap: this caught it.)
for delay in 1.2 1.9 2.6; do
  rm -rf "$work/dp-int"
  "$cli" launch --nproc 2 -- "$cli" train "${quick[@]}" --epochs 100 --checkpoint-every 5 \
    --output "$work/dp-int" >"$work/int.log" 2>&1 &
  launcher=$!
  sleep "$delay"
  pkill -INT -f -- "^$cli train .*--output $work/dp-int"
  timeout 60 tail --pid=$launcher -f /dev/null
  wait $launcher
  rc=$?
  [ "$rc" -eq 130 ] && grep -q "Interrupted after" "$work/int.log" &&
    [ -f "$work/dp-int/checkpoint.safetensors" ] ||
    fail "Ctrl-C on 2 ranks after ${delay} s -> exit $rc: $(tail -3 "$work/int.log")"
done

# Resuming with another number of ranks is refused with the reason.
timeout 120 "$cli" train "${quick[@]}" --checkpoint-every 5 --output "$work/ckpt" >/dev/null 2>&1 ||
  fail "could not make a checkpoint"
expect 1 "trained on 1 ranks and this one has 2" -- launch --nproc 2 -- "$cli" train "${quick[@]}" \
  --epochs 2 --resume "$work/ckpt" --output "$work/ckpt"

[ "$failures" -eq 0 ] && echo "launch checks passed"
exit $((failures > 0))
