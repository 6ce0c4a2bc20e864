#!/usr/bin/env python3
"""Reads a safetensors file with NumPy alone and prints, per tensor, its name, dtype, shape and
the sum of its values (float64), then the metadata. Shows a checkpoint is readable outside C++.

    scripts/read_safetensors.py runs/cnn-mnist/checkpoint.safetensors
"""
import json
import struct
import sys

try:
    import numpy as np
except ImportError:
    sys.exit("read_safetensors.py needs NumPy: run it with an interpreter that has it "
             "(Debian: /usr/bin/python3 with python3-numpy)")

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "BOOL": np.bool_}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = array
    return tensors, metadata


def main():
    tensors, metadata = read(sys.argv[1])
    for name, array in tensors.items():
        print(f"{name} {array.dtype} {list(array.shape)} {float(array.astype(np.float64).sum()):.9e}")
    print("metadata", json.dumps(metadata, sort_keys=True))


if __name__ == "__main__":
    main()
