"""The serving path: the declared stack rewritten for speed, with the same outputs.

In eval mode Dropout and Identity pass their input through; a BatchNorm1d after a linear layer
is an affine map that folds into it; two linear layers with nothing between them are one
(W2(W1x + b1) + b2 = (W2W1)x + (W2b1 + b2)), merged when that costs fewer multiply-adds.
Weights are combined with numpy in float64, so building the serving path runs no torch compute
(it happens before gunicorn forks). The declared stack stays what the layer endpoints show.
"""

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from ..tensors.dtypes import BY_TORCH
from .stack import BuiltLayer, LayerStack

PASS_THROUGH = ("Dropout", "Identity")
AFFINE = ("Linear", "Dense")


@dataclass
class _Affine:
    """A linear step being built: y = x @ weight.T + bias, in float64."""

    weight: np.ndarray
    bias: np.ndarray
    original: nn.Module  # kept, with its shared memory, when nothing folds into it
    fused: list[str] = field(default_factory=list)

    def module(self) -> nn.Module:
        return self.original if len(self.fused) == 1 else _to_linear(self, self.original.weight.dtype)


def optimize(stack: LayerStack) -> LayerStack | None:
    """The rewritten stack, or None when there is nothing to rewrite."""
    alias = _pass_through_aliases(stack)
    kept = [layer for layer in stack.built if layer.name not in alias]
    consumers = Counter(alias.get(s, s) for layer in kept for s in layer.sources)
    consumers.update(alias.get(name, name) for name in stack.output_names)
    steps: list[tuple[BuiltLayer, nn.Module | _Affine]] = []
    for layer, module in zip(stack.built, stack.layers):
        if layer.name in alias:
            continue
        layer = replace(layer, sources=tuple(_resolve(alias, s) for s in layer.sources))
        previous = steps[-1] if steps else None
        if previous and _fuses(previous, layer, consumers):
            _fuse(previous[1], layer, module)
            alias[layer.name] = previous[0].name
            continue
        steps.append((layer, _as_affine(layer, module) if layer.definition.type.name in AFFINE else module))
    if len(steps) == len(stack.built):
        return None
    layers = [layer for layer, _ in steps]
    modules = [step.module() if isinstance(step, _Affine) else step for _, step in steps]
    return LayerStack(layers, modules, stack.input_names, [_resolve(alias, name) for name in stack.output_names])


def _resolve(alias: dict[str, str], name: str) -> str:
    while name in alias:
        name = alias[name]
    return name


def describe_serving_path(serving: LayerStack) -> list[dict]:
    """What actually runs, step by step, with the declared layers each step stands for."""
    return [
        {"name": layer.name, "type": type(module).__name__, "layers": getattr(module, "fused_layers", [layer.name])}
        for layer, module in zip(serving.built, serving.layers)
    ]


def _pass_through_aliases(stack: LayerStack) -> dict[str, str]:
    alias = {}
    for layer in stack.built:
        if layer.definition.type.name in PASS_THROUGH:
            (source,) = layer.sources
            alias[layer.name] = alias.get(source, source)
    return alias


def _fuses(previous, layer: BuiltLayer, consumers: Counter) -> bool:
    """Whether `layer` folds into the step before it, whose result nothing else reads."""
    before, step = previous
    if not isinstance(step, _Affine) or layer.sources != (before.name,) or consumers[step.fused[-1]] != 1:
        return False
    kind = layer.definition.type.name
    if kind == "BatchNorm1d":
        return len(layer.input_shapes[0]) == 1
    if kind in AFFINE:
        width, inner = step.weight.shape[1], step.weight.shape[0]
        out = layer.params["out_features"]
        return width * out <= width * inner + inner * out
    return False


def _fuse(step: _Affine, layer: BuiltLayer, module: nn.Module) -> None:
    if layer.definition.type.name == "BatchNorm1d":
        scale, shift = _batch_norm_as_affine(module)
        step.weight = scale[:, None] * step.weight
        step.bias = scale * step.bias + shift
    else:
        nxt = _as_affine(layer, module)
        step.weight = nxt.weight @ step.weight
        step.bias = nxt.weight @ step.bias + nxt.bias
    step.fused.append(layer.name)


def _as_affine(layer: BuiltLayer, module: nn.Module) -> _Affine:
    weight = module.weight.numpy().astype(np.float64)
    if layer.definition.type.name == "Dense":  # inputs × neurons: transpose to torch's layout
        weight = weight.T
    bias = module.bias.numpy().astype(np.float64) if module.bias is not None else np.zeros(weight.shape[0])
    return _Affine(weight, bias, module, [layer.name])


def _batch_norm_as_affine(module: nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
    variance = module.running_var.numpy().astype(np.float64)
    mean = module.running_mean.numpy().astype(np.float64)
    gamma = module.weight.numpy().astype(np.float64) if module.weight is not None else np.ones_like(mean)
    beta = module.bias.numpy().astype(np.float64) if module.bias is not None else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + module.eps)
    return scale, beta - mean * scale


def _to_linear(step: _Affine, dtype: torch.dtype) -> nn.Linear:
    out_features, in_features = step.weight.shape
    linear = nn.Linear(in_features, out_features, device="meta", dtype=dtype)
    numpy_dtype = BY_TORCH[dtype].numpy
    linear.weight = nn.Parameter(torch.from_numpy(step.weight.astype(numpy_dtype)), requires_grad=False)
    linear.bias = nn.Parameter(torch.from_numpy(step.bias.astype(numpy_dtype)), requires_grad=False)
    linear.fused_layers = step.fused
    return linear.eval()
