#!/usr/bin/env bash
# report.html as a user sees it: a short run writes it, headless Chromium loads it without an
# error and renders it to a PNG, and the rendered page has its curves, confusion matrix and
# misclassified images. Exits 77 (skipped) without Chromium (scripts/setup.sh --tests installs it).
#   report_check.sh COTANGENT_BINARY WORK_DIR
set -uo pipefail
cli="$1"
work="$2"
rm -rf "$work" && mkdir -p "$work"
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "report check skipped: no Chromium (apt-get install chromium)"; exit 77; }
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

"$cli" train --model mlp --dataset mnist --limit 640 --epochs 3 --batch-size 64 --seed 2 \
  --schedule cosine --no-download --output "$work/run" > "$work/train.log" 2>&1 ||
  { echo "FAIL: training: $(tail -3 "$work/train.log")"; exit 1; }
page="$work/run/report.html"
[ -s "$page" ] || { echo "FAIL: no report.html"; exit 1; }
# Self-contained: nothing to fetch, nothing to run.
grep -qiE '<script|https?://|<link ' "$page" && fail "report.html refers outside itself or runs a script"

# Chromium in a private profile; its own complaints about D-Bus or the GPU are not the page's.
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/profile"
       --enable-logging=stderr --v=0 --window-size=1000,1500)
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$page" > "$work/dom.html" 2> "$work/dom.log" ||
  fail "chromium could not load the page: $(tail -3 "$work/dom.log")"
grep -E 'CONSOLE|Uncaught|Failed to load|net::ERR' "$work/dom.log" && fail "the page logged errors"
[ "$(grep -o 'class="chart"' "$work/dom.html" | wc -l)" -eq 4 ] || fail "not 4 charts in the rendered page"
[ "$(grep -o 'class="curve"' "$work/dom.html" | wc -l)" -eq 6 ] || fail "not 6 curves in the rendered page"
# Three epochs: each curve has three points.
grep -o 'class="curve" data-series="test" stroke="[^"]*" points="[^"]*"' "$work/dom.html" |
  head -1 | sed 's/.*points="//; s/"$//' | awk '{ if (NF != 3) exit 1 }' || fail "the test-loss curve has not 3 points"
grep -q 'class="confusion"' "$work/dom.html" || fail "no confusion matrix"
grep -q 'class="mistake"' "$work/dom.html" || fail "no misclassified images"
grep -q '"status">completed<' "$work/dom.html" || fail "the status is not shown as completed"

timeout 120 "$browser" "${flags[@]}" --screenshot="$work/report.png" "file://$page" > "$work/shot.log" 2>&1 ||
  fail "chromium could not render the page: $(tail -3 "$work/shot.log")"
# A PNG of the window's size with something drawn on it: more than a blank page's bytes.
python3 - "$work/report.png" <<'PY' || fail "the screenshot is not a 1000x1500 PNG with the page drawn"
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
width, height = struct.unpack(">II", data[16:24])
assert (width, height) == (1000, 1500), (width, height)
assert len(data) > 40000, len(data)
PY
[ "$failures" -eq 0 ] && echo "report check passed: $work/report.png"
exit $((failures > 0))
