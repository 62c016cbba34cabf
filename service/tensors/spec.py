"""A model's input or output as the protocol sees it: name, datatype, per-sample shape, checks."""

from dataclasses import dataclass

import numpy as np

from ..errors import BadRequest, clip
from .dtypes import DType


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: DType
    shape: tuple[int, ...]  # per sample
    index_limit: tuple[int, str] | None = None  # indices: the bound they stay below, and the layer that sets it

    @property
    def batched_shape(self) -> list[int]:
        return [-1, *self.shape]

    def check_shape(self, shape) -> None:
        """A batched shape must be the batch dimension followed by the per-sample shape."""
        if len(shape) != len(self.shape) + 1 or tuple(shape[1:]) != self.shape:
            raise BadRequest(
                f"input {self.name!r}: expected shape {self.batched_shape} (batch first), got {clip(list(shape))}"
            )

    def check_indices(self, array: np.ndarray) -> None:
        """Indices outside the table would make torch fail mid-forward: refuse them first."""
        if self.index_limit is None or array.size == 0:  # an empty batch is refused for its size
            return
        limit, layer = self.index_limit
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= limit:
            raise BadRequest(
                f"input {self.name!r}: index {low if low < 0 else high} is out of range for layer {layer!r}, "
                f"which has {limit} embeddings (indices 0..{limit - 1})"
            )

    def probe(self, rows: int, rng: np.random.Generator) -> np.ndarray:
        """Random values this input may hold: normal floats, or indices within its limit."""
        shape = (rows, *self.shape)
        if self.index_limit is not None:
            return rng.integers(self.index_limit[0], size=shape).astype(self.dtype.numpy)
        return rng.standard_normal(shape).astype(self.dtype.numpy)

    def metadata(self) -> dict:
        return {"name": self.name, "datatype": self.dtype.datatype, "shape": self.batched_shape}
