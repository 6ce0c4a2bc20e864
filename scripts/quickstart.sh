#!/usr/bin/env bash
# The README's two commands:
#   scripts/quickstart.sh train   set up, then train the talk's CNN on MNIST on the CPU
#   scripts/quickstart.sh test    set up, then run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh $([ "${1:-}" = test ] && echo --tests)
case "${1:-}" in
  train)
    shift
    exec build/tools/cotangent train --model cnn --dataset mnist --epochs 12 --batch-size 128 \
      --optimizer sgd --learning-rate 0.1 --seed 1 --device cpu --output runs/cnn-mnist "$@"
    ;;
  test)
    cd build
    exec ctest --output-on-failure --timeout 600 -j2
    ;;
  *)
    echo "usage: scripts/quickstart.sh train|test" >&2
    exit 2
    ;;
esac
