"""The one table of element types: definition names, protocol datatypes, torch and numpy dtypes."""

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


_DTYPES = [
    DType("float32", "FP32", "F32", torch.float32, np.float32),
    DType("float64", "FP64", "F64", torch.float64, np.float64),
]

BY_NAME = {d.name: d for d in _DTYPES}
BY_DATATYPE = {d.datatype: d for d in _DTYPES}
BY_TORCH = {d.torch: d for d in _DTYPES}
BY_NUMPY = {np.dtype(d.numpy): d for d in _DTYPES}

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
