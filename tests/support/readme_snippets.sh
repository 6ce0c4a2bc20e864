#!/usr/bin/env bash
# The README's C++ must compile: its first ```cpp block (the includes and the talk's CNN) opens a
# file, and every later block becomes the body of a function that has what the README's prose
# gives it (model, optimizer, images, labels, dataset, batches).
#   readme_snippets.sh COMPILER INCLUDE_DIR README WORK_DIR
set -euo pipefail
compiler="$1" include="$2" readme="$3" work="$4"
mkdir -p "$work"
source="$work/readme_snippets.cpp"
awk '
  /^```cpp/ { inside = 1; n++; if (n > 1) printf "void snippet_%d(CNN& model, SGD<CNN>& optimizer, const Tensor<float>& images,\n    const Tensor<std::int32_t>& labels, const data::Dataset& dataset, const data::Epoch& batches) {\n  (void)model, (void)optimizer, (void)images, (void)labels, (void)dataset, (void)batches;\n  {\n", n; next }
  /^```/ && inside { inside = 0; if (n > 1) print "  }\n}"; next }
  inside { print }
' "$readme" > "$source"
blocks=$(grep -c '^```cpp' "$readme")
[ "$blocks" -ge 2 ] || { echo "FAIL: the README has $blocks C++ blocks"; exit 1; }
"$compiler" -std=c++20 -fsyntax-only -fopenmp -I"$include" "$source" 2> "$work/errors.txt" || {
  echo "FAIL: the README's C++ does not compile ($source):"; head -30 "$work/errors.txt"; exit 1; }
echo "the README's $blocks C++ blocks compile"
