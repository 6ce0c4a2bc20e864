#!/usr/bin/env bash
# examples/own_data: a model trained through train::fit on data that is not a built-in set
# (generated spirals, then the same points written to .npy files and read back), and bad files
# refused with the reason.
#   own_data_check.sh OWN_DATA_BINARY WORK_DIR
set -uo pipefail
cli="$1" work="$2"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0
source "$(dirname "$0")/expect.sh"

out=$(timeout 300 "$cli" 8 2>&1)
accuracy=$(echo "$out" | sed -n 's/^test accuracy \([0-9.]*\)%.*/\1/p')
if [ -z "$accuracy" ] || ! awk -v a="$accuracy" 'BEGIN { exit !(a >= 90) }'; then
  echo "FAIL: own_data 8 on the spirals: accuracy '$accuracy' (want 90% or more):"
  echo "$out" | tail -5
  failures=$((failures + 1))
fi

expect 1 "missing.npy" -- 2 missing.npy labels.npy
printf 'not a numpy file' > junk.npy
expect 1 "junk.npy: not a .npy file" -- 2 junk.npy junk.npy
expect 1 "EPOCHS 'x' is not a whole number" -- x

# The same kind of data from files, when Debian's python3-numpy is there to write them.
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 - <<'PY'
import numpy as np
rng = np.random.default_rng(1)
x = np.concatenate([rng.normal(-2, 1, (500, 5)), rng.normal(2, 1, (500, 5))])
y = np.repeat(np.arange(2, dtype=np.int64), 500)
order = rng.permutation(1000)
np.save("features.npy", x[order])            # float64
np.save("labels.npy", y[order])              # int64
np.save("bad_labels.npy", -y[order] - 1)     # negative classes
PY
  expect 0 "test accuracy 100%" -- 3 features.npy labels.npy
  expect 1 "label -1 of sample 0 is not a class index" -- 2 features.npy bad_labels.npy
else
  echo "no python3-numpy at /usr/bin/python3: the .npy part is skipped"
fi

[ "$failures" -eq 0 ] && echo "own_data: all checks passed"
exit "$((failures > 0))"
