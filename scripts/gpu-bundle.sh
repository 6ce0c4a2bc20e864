#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that can neither build nor download:
# the stripped test, benchmark, example and CLI binaries of a CUDA build, the libraries they load
# that are neither the C runtime nor CUDA's (OpenBLAS, oneDNN, curl…; the GPU machine brings its
# own CUDA), the kernels compiled ahead for the GPU's architecture, and the MNIST files.
#   scripts/gpu-bundle.sh [BUILD_DIR] [ARCH]      → .gpu/bundle.tar.xz   (defaults: build sm_90)
# BUILD_DIR must be configured with COTANGENT_CUDA=ON and COTANGENT_BENCHMARKS=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
arch="${2:-sm_90}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/cuda-cache" "$stage/mnist" .gpu

for binary in tests/cotangent_tests bench/cuda_bench examples/mnist_cnn examples/mnist_mlp \
  tools/cotangent; do
  [[ -x $build/$binary ]] || { echo "gpu-bundle: $build/$binary is missing: build it first" >&2; exit 1; }
  cp "$build/$binary" "$stage/bin/"
  strip "$stage/bin/$(basename "$binary")"
done

ldd "$stage"/bin/* | awk '/=> \// {print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|libpthread|librt|libresolv|libnsl|libutil|libanl|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so' |
  grep -vE '/lib(cuda|cudart|cublas|cublasLt|cudnn[a-z_]*|nvrtc[a-z.-]*)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done

# The kernels for ARCH, under the key the GPU machine computes when its NVRTC is this one.
CT_CACHE_DIR="$stage/cuda-cache" "$stage/bin/cotangent_tests" \
  --gtest_filter=CudaKernels.NvrtcCompilesEveryKernelTheBackendCanEmit >/dev/null
[[ $arch == sm_90 ]] || echo "gpu-bundle: the kernel cache holds sm_90 only; $arch compiles there" >&2

mnist="${COTANGENT_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/cotangent/datasets/mnist}"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [[ -f $mnist/$f.gz ]]; then cp "$mnist/$f.gz" "$stage/mnist/"
  elif [[ -f $mnist/$f ]]; then gzip -c "$mnist/$f" >"$stage/mnist/$f.gz"
  else echo "gpu-bundle: no MNIST file $f in $mnist (the CNN epoch will be skipped)" >&2; fi
done

XZ_OPT=-T0 tar -C "$stage" -cJf .gpu/bundle.tar.xz .
echo "gpu-bundle: .gpu/bundle.tar.xz $(du -h .gpu/bundle.tar.xz | cut -f1) ($(ls "$stage/lib" | wc -l) libraries)"
