"""Writes a safetensors file with NumPy alone (another tool's writer), for the interop test."""
import json
import struct
import sys

import numpy as np

tensors = {
    "weight": np.arange(12, dtype=np.float32).reshape(3, 4) / 4,
    "bias": np.array([1.5, -2.0, 0.25], dtype=np.float64),
    "ids": np.array([[7, -1]], dtype=np.int64),
}
header, offset, blobs = {"__metadata__": {"writer": "numpy"}}, 0, []
for name, array in tensors.items():
    raw = array.tobytes()
    header[name] = {"dtype": {np.float32: "F32", np.float64: "F64", np.int64: "I64"}[array.dtype.type],
                    "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
    offset += len(raw)
    blobs.append(raw)
text = json.dumps(header).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
