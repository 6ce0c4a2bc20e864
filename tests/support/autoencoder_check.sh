#!/usr/bin/env bash
# examples/autoencoder: one short epoch on MNIST brings the test set's reconstruction error well
# under that of predicting the mean image (about 0.067), and writes its picture; bad arguments
# are refused.
#   autoencoder_check.sh AUTOENCODER_BINARY WORK_DIR
set -uo pipefail
cli="$1" work="$2"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0
source "$(dirname "$0")/expect.sh"

out=$(timeout 300 "$cli" 1 --limit 4000 2>&1)
error=$(echo "$out" | sed -n 's/^Epoch 1: test reconstruction error (MSE) \([0-9.e-]*\)$/\1/p')
if [ -z "$error" ] || ! awk -v e="$error" 'BEGIN { exit !(e < 0.04) }'; then
  echo "FAIL: autoencoder 1 --limit 4000: error '$error' (want under 0.04):"
  echo "$out" | tail -5
  failures=$((failures + 1))
fi
if ! head -c 8 autoencoder.png 2>/dev/null | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a"; then
  echo "FAIL: no PNG at autoencoder.png"
  failures=$((failures + 1))
fi
expect 1 "--limit '5' is not a whole number from 64 up" -- 1 --limit 5
expect 1 "--limit needs a number" -- 1 --limit
expect 1 "EPOCHS '0' is not a whole number" -- 0

[ "$failures" -eq 0 ] && echo "autoencoder: all checks passed"
exit "$((failures > 0))"
