"""The one table of element types: definition names, protocol datatypes, torch and numpy dtypes.

A model computes in one float dtype; integer dtypes are for inputs that hold Embedding indices.
"""

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class DType:
    name: str  # as written in model.yaml
    datatype: str  # Open Inference Protocol name
    safetensors: str  # safetensors header name
    torch: torch.dtype
    numpy: type
    indices: bool = False  # integers an Embedding looks up: an input's dtype, never a model's


_DTYPES = [
    DType("float32", "FP32", "F32", torch.float32, np.float32),
    DType("float64", "FP64", "F64", torch.float64, np.float64),
    DType("int64", "INT64", "I64", torch.int64, np.int64, indices=True),
    DType("int32", "INT32", "I32", torch.int32, np.int32, indices=True),
]

BY_NAME = {d.name: d for d in _DTYPES}
BY_DATATYPE = {d.datatype: d for d in _DTYPES}
BY_TORCH = {d.torch: d for d in _DTYPES}
BY_NUMPY = {np.dtype(d.numpy): d for d in _DTYPES}
MODEL_DTYPES = sorted(d.name for d in _DTYPES if not d.indices)  # a model's `dtype`: its tensors and values
INDEX_DTYPES = sorted(d.name for d in _DTYPES if d.indices)  # an input's `dtype`, for Embedding

# Every protocol datatype a client may name; those not in BY_DATATYPE are known but not served.
PROTOCOL_DATATYPES = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BF16",
    "BYTES",
]
