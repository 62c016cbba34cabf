"""The serving path: the declared stack rewritten for speed, with the same outputs.

In eval mode some layers pass their input through (Dropout, Identity: `LayerType.passes_through`);
a per-feature scale and shift after an affine step folds into it (BatchNorm1d with running
statistics: `LayerType.scale_shift`); two affine layers with nothing between them are one
(W2(W1x + b1) + b2 = (W2W1)x + (W2b1 + b2): `LayerType.affine`), merged when that costs fewer
multiply-adds. Which types do what is said by their registry entries (fusion_rules.py).
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
        if steps and _folded(steps[-1], layer, module, consumers):
            alias[layer.name] = steps[-1][0].name
            continue
        steps.append((layer, _as_affine(layer, module) if layer.definition.type.affine else module))
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
        if layer.definition.type.passes_through:
            (source,) = layer.sources
            alias[layer.name] = alias.get(source, source)
    return alias


def _folded(previous, layer: BuiltLayer, module: nn.Module, consumers: Counter) -> bool:
    """Folds `layer` into the affine step before it, whose result nothing else reads; whether it did."""
    before, step = previous
    if not isinstance(step, _Affine) or layer.sources != (before.name,) or consumers[step.fused[-1]] != 1:
        return False
    kind = layer.definition.type
    scale_shift = kind.scale_shift(module, layer.input_shapes[0]) if kind.scale_shift else None
    if scale_shift is not None:
        scale, shift = scale_shift
        step.weight = scale[:, None] * step.weight
        step.bias = scale * step.bias + shift
    elif kind.affine and _merging_saves(step, out_features=layer.output_shape[-1]):
        nxt = _as_affine(layer, module)
        step.weight = nxt.weight @ step.weight
        step.bias = nxt.weight @ step.bias + nxt.bias
    else:
        return False
    step.fused.append(layer.name)
    return True


def _merging_saves(step: _Affine, out_features: int) -> bool:
    """One (out × width) product instead of (inner × width) then (out × inner), when no dearer."""
    inner, width = step.weight.shape
    return width * out_features <= width * inner + inner * out_features


def _as_affine(layer: BuiltLayer, module: nn.Module) -> _Affine:
    weight, bias = layer.definition.type.affine(module)
    return _Affine(weight, bias, module, [layer.name])


def _to_linear(step: _Affine, dtype: torch.dtype) -> nn.Linear:
    out_features, in_features = step.weight.shape
    linear = nn.Linear(in_features, out_features, device="meta", dtype=dtype)
    numpy_dtype = BY_TORCH[dtype].numpy
    linear.weight = nn.Parameter(torch.from_numpy(step.weight.astype(numpy_dtype)), requires_grad=False)
    linear.bias = nn.Parameter(torch.from_numpy(step.bias.astype(numpy_dtype)), requires_grad=False)
    linear.fused_layers = step.fused
    return linear.eval()
