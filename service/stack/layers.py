"""The layer registry: for each layer type, its hyper-parameters, its shape rule and its module.

Adding a layer type is one entry in LAYER_TYPES. Hyper-parameters use torch's own argument
names; shapes are per sample (the batch dimension is implicit), while `dim`-like arguments
count the batch dimension as torch does.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

from marshmallow import Schema, fields, validate
from torch import nn

from .health import ZERO, HealthRule, saturation
from .modules import Dense

Shape = tuple[int, ...]


class ShapeMismatch(Exception):
    """An input shape that a layer cannot take: `expected` describes what it needs."""

    def __init__(self, expected: str, got: Shape, operand: int = 0):
        super().__init__(expected)
        self.expected = expected
        self.got = got
        self.operand = operand


class ParamError(Exception):
    """A hyper-parameter that is valid on its own but not for this input."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LayerType:
    name: str
    module: Callable[..., nn.Module]
    params: type[Schema]
    infer: Callable[[dict, list[Shape]], tuple[dict, Shape]]
    arity: int = 1
    has_tensors: bool = False  # built with device/dtype, weights loaded afterwards
    fan_in: str | None = None  # hyper-parameter giving the fan-in of seeded initialization
    health: HealthRule | None = None  # what makes one of its neurons dead or saturated
    macs: Callable[[dict, list[Shape], Shape], int] = lambda params, inputs, output: 0  # per sample

    def build(self, params: dict, dtype) -> nn.Module:
        if self.has_tensors:
            return self.module(**params, device="meta", dtype=dtype)
        return self.module(**params)


# --- hyper-parameter schemas -------------------------------------------------------------


def _positive(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)


def _float(default, **kwargs):
    return fields.Float(allow_nan=False, load_default=default, **kwargs)


class NoParams(Schema):
    pass


class LinearParams(Schema):
    in_features = _positive(load_default=None)
    out_features = _positive(required=True)
    bias = fields.Boolean(load_default=True)


class BilinearParams(Schema):
    in1_features = _positive(load_default=None)
    in2_features = _positive(load_default=None)
    out_features = _positive(required=True)
    bias = fields.Boolean(load_default=True)


class LeakyReLUParams(Schema):
    negative_slope = _float(0.01)


class DimParams(Schema):
    dim = fields.Integer(strict=True, load_default=-1)


class GELUParams(Schema):
    approximate = fields.String(load_default="none", validate=validate.OneOf(["none", "tanh"]))


class ELUParams(Schema):
    alpha = _float(1.0)


class SoftplusParams(Schema):
    beta = _float(1.0)
    threshold = _float(20.0)


class FlattenParams(Schema):
    start_dim = fields.Integer(strict=True, load_default=1)
    end_dim = fields.Integer(strict=True, load_default=-1)


class UnflattenParams(Schema):
    dim = fields.Integer(strict=True, required=True)
    unflattened_size = fields.List(
        fields.Integer(strict=True, validate=validate.NoneOf([0])),
        required=True,
        validate=validate.Length(min=1),
    )


class DropoutParams(Schema):
    p = _float(0.5, validate=validate.Range(min=0.0, max=1.0))


class BatchNormParams(Schema):
    num_features = _positive(load_default=None)
    eps = _float(1e-5, validate=validate.Range(min=0.0, min_inclusive=False))
    momentum = _float(0.1)
    affine = fields.Boolean(load_default=True)


class LayerNormParams(Schema):
    normalized_shape = fields.List(_positive(), load_default=None, validate=validate.Length(min=1))
    eps = _float(1e-5, validate=validate.Range(min=0.0, min_inclusive=False))
    elementwise_affine = fields.Boolean(load_default=True)
    bias = fields.Boolean(load_default=True)


class RMSNormParams(Schema):
    normalized_shape = fields.List(_positive(), load_default=None, validate=validate.Length(min=1))
    eps = fields.Float(allow_nan=False, load_default=None, validate=validate.Range(min=0.0, min_inclusive=False))
    elementwise_affine = fields.Boolean(load_default=True)


# --- shape rules ---------------------------------------------------------------------------


def _sample_dim(field: str, dim: int, shape: Shape) -> int:
    """Turn a torch dim (counting the batch) into an index into the per-sample shape."""
    rank = len(shape) + 1
    full = dim + rank if dim < 0 else dim
    if full == 0:
        raise ParamError(field, f"{dim} is the batch dimension; layers act on each sample alone")
    if not 0 < full < rank:
        raise ParamError(field, f"{dim} is out of range for input shape [batch, {_dims(shape)}]")
    return full - 1


def _dims(shape: Shape) -> str:
    return ", ".join(map(str, shape))


def same_shape(params, shapes):
    return params, shapes[0]


def along_dim(params, shapes):
    _sample_dim("dim", params["dim"], shapes[0])
    return params, shapes[0]


def _features(params, key, shape, operand=0):
    """Check (or infer) the feature count a layer reads from the last dimension."""
    if not shape:
        raise ShapeMismatch("at least one dimension", shape, operand)
    expected = params[key]
    if expected is None:
        return {**params, key: shape[-1]}
    if expected != shape[-1]:
        raise ShapeMismatch(f"{expected} features in the last dimension", shape, operand)
    return params


def linear(params, shapes):
    (shape,) = shapes
    params = _features(params, "in_features", shape)
    return params, shape[:-1] + (params["out_features"],)


def bilinear(params, shapes):
    first, second = shapes
    params = _features(params, "in1_features", first, 0)
    params = _features(params, "in2_features", second, 1)
    if first[:-1] != second[:-1]:
        raise ShapeMismatch(f"leading dimensions [{_dims(first[:-1])}] like the first input", second, 1)
    return params, first[:-1] + (params["out_features"],)


def batch_norm(params, shapes):
    (shape,) = shapes
    if len(shape) not in (1, 2):
        raise ShapeMismatch("per-sample shape [C] or [C, L]", shape)
    if params["num_features"] is None:
        params = {**params, "num_features": shape[0]}
    elif params["num_features"] != shape[0]:
        raise ShapeMismatch(f"{params['num_features']} channels in the first dimension", shape)
    return params, shape


def normalized(params, shapes):
    (shape,) = shapes
    wanted = params["normalized_shape"]
    if not shape:
        raise ShapeMismatch("at least one dimension", shape)
    if wanted is None:
        return {**params, "normalized_shape": [shape[-1]]}, shape
    if list(shape[len(shape) - len(wanted) :]) != wanted or len(wanted) > len(shape):
        raise ShapeMismatch(f"trailing dimensions [{_dims(wanted)}]", shape)
    return params, shape


def flatten(params, shapes):
    (shape,) = shapes
    start = _sample_dim("start_dim", params["start_dim"], shape)
    end = _sample_dim("end_dim", params["end_dim"], shape)
    if start > end:
        raise ParamError("start_dim", "start_dim comes after end_dim")
    return params, shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :]


def unflatten(params, shapes):
    (shape,) = shapes
    at = _sample_dim("dim", params["dim"], shape)
    sizes = params["unflattened_size"]
    unknown = [s for s in sizes if s < 0]
    known = math.prod(s for s in sizes if s > 0)
    if len(unknown) > 1 or any(s != -1 for s in unknown):
        raise ParamError("unflattened_size", "only one size may be -1, and no other size negative")
    if unknown:
        if shape[at] % known:
            raise ShapeMismatch(f"a size divisible by {known} in dimension {params['dim']}", shape)
        sizes = [shape[at] // known if s < 0 else s for s in sizes]
    elif known != shape[at]:
        raise ShapeMismatch(f"size {known} in dimension {params['dim']}", shape)
    return params, shape[:at] + tuple(sizes) + shape[at + 1 :]


# --- multiply-adds per sample ----------------------------------------------------------------


def linear_macs(params, inputs, output):
    (shape,) = inputs
    return math.prod(shape[:-1]) * params["in_features"] * params["out_features"]


def bilinear_macs(params, inputs, output):
    return math.prod(output[:-1]) * params["in1_features"] * params["in2_features"] * params["out_features"]


def elementwise_macs(params, inputs, output):
    """Norms in eval mode: one scale-and-shift per element."""
    return math.prod(output)


# --- the registry --------------------------------------------------------------------------


def _activation(name, module, params=NoParams, infer=same_shape, health=None):
    return LayerType(name, module, params, infer, health=health)


LAYER_TYPES: dict[str, LayerType] = {
    t.name: t
    for t in [
        LayerType("Linear", nn.Linear, LinearParams, linear, has_tensors=True, fan_in="in_features", macs=linear_macs),
        LayerType("Dense", Dense, LinearParams, linear, has_tensors=True, fan_in="in_features", macs=linear_macs),
        LayerType(
            "Bilinear",
            nn.Bilinear,
            BilinearParams,
            bilinear,
            arity=2,
            has_tensors=True,
            fan_in="in1_features",
            macs=bilinear_macs,
        ),
        _activation("ReLU", nn.ReLU, health=ZERO),
        _activation("LeakyReLU", nn.LeakyReLU, LeakyReLUParams),
        _activation("Sigmoid", nn.Sigmoid, health=saturation(0.0, 1.0)),
        _activation("Tanh", nn.Tanh, health=saturation(-1.0, 1.0)),
        _activation("Softmax", nn.Softmax, DimParams, along_dim),
        _activation("LogSoftmax", nn.LogSoftmax, DimParams, along_dim),
        _activation("GELU", nn.GELU, GELUParams),
        _activation("SiLU", nn.SiLU),
        _activation("ELU", nn.ELU, ELUParams),
        _activation("Softplus", nn.Softplus, SoftplusParams),
        LayerType("Identity", nn.Identity, NoParams, same_shape),
        LayerType("Dropout", nn.Dropout, DropoutParams, same_shape),
        LayerType("Flatten", nn.Flatten, FlattenParams, flatten),
        LayerType("Unflatten", nn.Unflatten, UnflattenParams, unflatten),
        LayerType("BatchNorm1d", nn.BatchNorm1d, BatchNormParams, batch_norm, has_tensors=True, macs=elementwise_macs),
        LayerType("LayerNorm", nn.LayerNorm, LayerNormParams, normalized, has_tensors=True, macs=elementwise_macs),
        LayerType("RMSNorm", nn.RMSNorm, RMSNormParams, normalized, has_tensors=True, macs=elementwise_macs),
    ]
}
