"""A loaded model as the service sees it: its signature, its limits, and its forward pass."""

from dataclasses import dataclass

import numpy as np
import torch

from .dtypes import BY_NAME, DType
from .errors import BadRequest
from .stack import Definition, LayerStack


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: DType
    shape: tuple[int, ...]  # per sample

    @property
    def batched_shape(self) -> list[int]:
        return [-1, *self.shape]

    def check_shape(self, shape) -> None:
        """A batched shape must be the batch dimension followed by the per-sample shape."""
        if len(shape) != len(self.shape) + 1 or tuple(shape[1:]) != self.shape:
            raise BadRequest(
                f"input {self.name!r}: expected shape {self.batched_shape} (batch first), got {list(shape)}"
            )

    def metadata(self) -> dict:
        return {"name": self.name, "datatype": self.dtype.datatype, "shape": self.batched_shape}


class ServedModel:
    def __init__(self, definition: Definition, stack: LayerStack, max_batch_size: int):
        self.definition = definition
        self.stack = stack
        self.name = definition.name
        self.version = str(definition.version)
        # A model may lower the server's limit, never raise it.
        self.max_batch_size = min(definition.max_batch_size or max_batch_size, max_batch_size)
        dtype = BY_NAME[definition.dtype]
        self.inputs = [TensorSpec(i.name, dtype, i.shape) for i in definition.inputs]
        layer_shapes = {layer.name: layer.output_shape for layer in stack.built}
        self.outputs = [TensorSpec(name, dtype, layer_shapes[name]) for name in definition.outputs]
        self.warmed_up = False

    def input_spec(self, name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise BadRequest(f"model {self.name!r} has no input {name!r}; its inputs: {self._names(self.inputs)}")

    def check_outputs(self, requested: list[str]) -> None:
        known = {spec.name for spec in self.outputs}
        for name in requested:
            if name not in known:
                raise BadRequest(
                    f"model {self.name!r} has no output {name!r}; its outputs: {self._names(self.outputs)}"
                )

    def infer(self, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Run a batch: `arrays` maps every input name to an array of shape (batch, *input shape)."""
        self._check_inputs(arrays)
        tensors = [torch.from_numpy(arrays[spec.name]) for spec in self.inputs]
        with torch.inference_mode():
            results = self.stack(*tensors)
        return dict(zip(self.stack.output_names, results))

    def warm_up(self) -> None:
        """One forward pass so the first real request does not pay for lazy initialization."""
        self.infer({s.name: np.zeros((1, *s.shape), dtype=s.dtype.numpy) for s in self.inputs})
        self.warmed_up = True

    def _check_inputs(self, arrays: dict[str, np.ndarray]) -> None:
        missing = [spec.name for spec in self.inputs if spec.name not in arrays]
        if missing:
            raise BadRequest(
                f"model {self.name!r} needs inputs {self._names(self.inputs)}; missing: {', '.join(missing)}"
            )
        batch_sizes = set()
        for spec in self.inputs:
            array = arrays[spec.name]
            spec.check_shape(array.shape)
            batch_sizes.add(array.shape[0])
        if len(batch_sizes) > 1:
            raise BadRequest(f"inputs have different batch sizes: {sorted(batch_sizes)}")
        (batch,) = batch_sizes
        if not 1 <= batch <= self.max_batch_size:
            raise BadRequest(f"batch size {batch} is outside 1..{self.max_batch_size} for model {self.name!r}")

    @staticmethod
    def _names(specs) -> str:
        return ", ".join(spec.name for spec in specs)
