"""What if: a trace that runs a model with some weights replaced or some activations swapped,
for that one request only.

The served layers are never touched: a layer whose weights change runs as a copy of its module
holding the new tensors, and a swapped activation is a new module of the other type. Other
requests, running at the same time in other threads, see the model as declared.
"""

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from marshmallow import ValidationError
from torch import nn

from ..errors import BadRequest
from ..stack import BuiltLayer
from ..stack.health_rules import HealthRule
from ..stack.layers import LAYER_TYPES, LayerType
from ..stack.weights import TRAINING_ONLY
from .served import ServedModel

LIMIT_VARIABLE = "LAYERSERVE_TRACE_MAX_VALUES"


@dataclass(frozen=True)
class Swap:
    """An activation run as another type, with that type's default hyper-parameters."""

    declared: str
    layer_type: LayerType
    params: dict
    module: nn.Module

    @property
    def health(self) -> HealthRule | None:
        return self.layer_type.health(self.params) if self.layer_type.health else None


@dataclass
class WhatIf:
    weights: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # layer → parameter → tensor
    swaps: dict[str, Swap] = field(default_factory=dict)  # layer → what runs instead
    _copies: dict[str, nn.Module] = field(default_factory=dict)

    def module(self, built: BuiltLayer, module: nn.Module) -> nn.Module:
        """The module this request runs for the layer: its own, a copy with new tensors, or a swap."""
        if built.name in self.swaps:
            return self.swaps[built.name].module
        if built.name not in self.weights:
            return module
        if built.name not in self._copies:
            clone = copy.deepcopy(module)
            with torch.no_grad():
                for name, tensor in self.weights[built.name].items():
                    getattr(clone, name).copy_(tensor)
            self._copies[built.name] = clone
        return self._copies[built.name]

    def described(self) -> dict:
        return {
            "weights": {
                f"{layer}.{name}": list(tensor.shape)
                for layer, tensors in self.weights.items()
                for name, tensor in tensors.items()
            },
            "activations": {
                layer: {"declared": swap.declared, "used": swap.layer_type.name} for layer, swap in self.swaps.items()
            },
        }


def read_what_if(model: ServedModel, parameters: dict, max_values: int) -> WhatIf:
    """The request's `weights` and `activations` parameters, checked against the model."""
    layers = {built.name: (built, module) for built, module in zip(model.stack.built, model.stack.layers)}
    what_if = WhatIf()
    for key, values in (parameters.get("weights") or {}).items():
        layer, name, tensor = _weight(model, layers, key, values, max_values)
        what_if.weights.setdefault(layer, {})[name] = tensor
    for layer, type_name in (parameters.get("activations") or {}).items():
        what_if.swaps[layer] = _swap(model, layers, layer, type_name)
    return what_if


def _weight(model, layers, key: str, values, max_values: int) -> tuple[str, str, torch.Tensor]:
    where = f"parameters.weights[{key!r}]"
    layer, _, name = key.rpartition(".")
    if layer not in layers:
        raise BadRequest(f"{where}: model {model.name!r} has no layer {layer!r}; keys are '<layer>.<parameter>'")
    built, module = layers[layer]
    tensors = dict(module.named_parameters(recurse=False))
    tensors.update((n, t) for n, t in module.named_buffers(recurse=False) if n not in TRAINING_ONLY)
    if name not in tensors:
        known = ", ".join(sorted(tensors)) or "none"
        raise BadRequest(
            f"{where}: layer {layer!r} ({built.definition.type.name}) has no tensor {name!r}; its tensors: {known}"
        )
    current = tensors[name]
    if current.numel() > max_values:
        raise BadRequest(
            f"{where}: layer {layer!r} {name} has {current.numel()} values; a what-if replaces at most {max_values} "
            f"({LIMIT_VARIABLE})"
        )
    dtype = current.detach().numpy().dtype
    odd = _not_a_number(values)
    if odd:  # numpy would quietly read true as 1.0 and "2" as 2.0, which an infer request refuses
        raise BadRequest(f"{where}: expected numbers nested as shape {list(current.shape)} ({odd} found)")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadRequest(f"{where}: expected numbers nested as shape {list(current.shape)}") from None
    if array.shape != tuple(current.shape):
        raise BadRequest(
            f"{where}: layer {layer!r} {name} has shape {list(current.shape)}, got values of shape {list(array.shape)}"
        )
    if not (np.isfinite(array) & (np.abs(array) <= np.finfo(dtype).max)).all():
        raise BadRequest(f"{where}: values must be finite numbers within the range of {dtype}")
    array = array.astype(dtype)
    return layer, name, torch.from_numpy(array)


_NOT_NUMBERS = {bool: "a boolean", str: "a string", dict: "an object", type(None): "null"}


def _not_a_number(values) -> str | None:
    """What the first JSON value that is not a number is ("a boolean", "a string", ...), if any."""
    pending = [values]
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending.extend(value)
        elif type(value) not in (int, float):
            return _NOT_NUMBERS.get(type(value), type(value).__name__)
    return None


def _swap(model, layers, layer: str, type_name) -> Swap:
    where = f"parameters.activations[{layer!r}]"
    if layer not in layers:
        raise BadRequest(f"{where}: model {model.name!r} has no layer {layer!r}")
    built, _ = layers[layer]
    declared = built.definition.type
    if not _swappable(declared):
        raise BadRequest(f"{where}: layer {layer!r} is a {declared.name}, not an activation without tensors to swap")
    target = LAYER_TYPES.get(type_name) if isinstance(type_name, str) else None
    if target is None or not _swappable(target) or target.infer is not declared.infer:
        choices = ", ".join(
            sorted(
                n for n, t in LAYER_TYPES.items() if _swappable(t) and t.infer is declared.infer and _needs_nothing(t)
            )
        )
        raise BadRequest(
            f"{where}: {type_name!r} cannot stand in for {declared.name} ({layer!r}); choose one of: {choices}"
        )
    try:
        params = target.params().load({})
    except ValidationError as exc:
        needed = ", ".join(sorted(exc.messages))
        raise BadRequest(f"{where}: {target.name} needs hyper-parameters ({needed}); a swap uses defaults") from None
    params, _ = target.infer(params, list(built.input_shapes))
    return Swap(declared.name, target, params, target.build(params, dtype=None).eval())  # no tensors: no dtype


def _swappable(layer_type: LayerType) -> bool:
    """One input, no tensors of its own, element by element or along a dimension: an activation."""
    return layer_type.family == "activation" and layer_type.arity == 1 and not layer_type.has_tensors


def _needs_nothing(layer_type: LayerType) -> bool:
    return not any(field.required for field in layer_type.params().fields.values())
