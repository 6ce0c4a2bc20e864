#!/usr/bin/env bash
# A document's C++ must compile. Its first ```cpp block (the includes and a model named CNN)
# opens a file; a later block that declares something at its top level (a line starting with
# struct, class, template, namespace or #include) follows at file scope, and every other block
# becomes the body of a function given what the prose gives it (model, optimizer, images,
# labels, dataset, batches). With CMAKE_FILE, the document's ```cmake block must be that file
# (which another test builds), word for word.
#   doc_snippets.sh COMPILER INCLUDE_DIR DOCUMENT WORK_DIR [CMAKE_FILE]
set -euo pipefail
compiler="$1" include="$2" document="$3" work="$4" cmake_file="${5:-}"
mkdir -p "$work"
name="$(basename "$document" .md)"
source="$work/${name}_snippets.cpp"
awk '
  function flush(   file_scope) {
    file_scope = (n == 1) || block ~ /(^|\n)(struct|class|template|namespace|#include)[ <]/
    if (file_scope) { printf "%s", block; return }
    printf "void snippet_%d(CNN& model, SGD<CNN>& optimizer, const Tensor<float>& images,\n", n
    printf "    const Tensor<std::int32_t>& labels, const data::Dataset& dataset,\n"
    printf "    const data::Epoch& batches) {\n"
    printf "  (void)model, (void)optimizer, (void)images, (void)labels, (void)dataset, (void)batches;\n"
    printf "  {\n%s  }\n}\n", block
  }
  /^```cpp/ { inside = 1; n++; block = ""; next }
  /^```/ && inside { inside = 0; flush(); next }
  inside { block = block $0 "\n" }
' "$document" > "$source"
blocks=$(grep -c '^```cpp' "$document")
[ "$blocks" -ge 2 ] || { echo "FAIL: $document has $blocks C++ blocks"; exit 1; }
"$compiler" -std=c++20 -fsyntax-only -fopenmp -I"$include" "$source" 2> "$work/errors.txt" || {
  echo "FAIL: the C++ of $document does not compile ($source):"; head -30 "$work/errors.txt"; exit 1; }
echo "the $blocks C++ blocks of $document compile"
if [ -n "$cmake_file" ]; then
  awk '/^```cmake/ { inside = 1; next } /^```/ && inside { exit } inside { print }' "$document" \
    > "$work/${name}_CMakeLists.txt"
  diff -u "$cmake_file" "$work/${name}_CMakeLists.txt" || {
    echo "FAIL: the cmake block of $document is not $cmake_file"; exit 1; }
  echo "its cmake block is $cmake_file"
fi
