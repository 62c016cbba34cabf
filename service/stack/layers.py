"""The layer registry: for each layer type, its hyper-parameters, its shape rule and its module.

Adding a layer type is one entry in LAYER_TYPES. Hyper-parameters use torch's own argument
names; shapes are per sample (the batch dimension is implicit), while `dim`-like arguments
count the batch dimension as torch does.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from torch import nn

from .health_rules import ZERO, HealthRule, clamp, dead_at, saturation
from .modules import Add, Concat, Dense, Multiply
from .params import finite_float, positive_int
from .seeding import SeedRule, filled_with, reset_values, standard_normal, uniform_fan_in
from .shapes import ParamError, Shape, ShapeMismatch, channels, check_spatial, format_dims, sample_dim
from .spatial import (
    AvgPool2dParams,
    adaptive_avg_pool_macs,
    adaptive_pool,
    adaptive_pool_params,
    avg_pool_macs,
    avg_pool_params,
    conv,
    conv_fan_in,
    conv_macs,
    conv_params,
    max_pool_params,
    pool,
)


def no_macs(params, inputs, output) -> int:
    """Activations, reshapes, lookups, sums and comparisons: no products."""
    return 0


@dataclass(frozen=True)
class LayerType:
    name: str
    module: Callable[..., nn.Module]
    params: type[Schema]
    infer: Callable[[dict, list[Shape]], tuple[dict, Shape]]
    arity: int = 1
    variadic: bool = False  # takes `arity` or more inputs
    has_tensors: bool = False  # built with device/dtype, weights loaded afterwards
    seed: SeedRule = reset_values  # how init: {seed: N} fills its tensors
    health: Callable[[dict], HealthRule] | None = None  # what makes one of its neurons dead or saturated
    macs: Callable[[dict, list[Shape], Shape], int] = no_macs  # multiply-adds per sample
    index_bound: str | None = None  # reads integer indices below this hyper-parameter (Embedding)

    def build(self, params: dict, dtype) -> nn.Module:
        if self.has_tensors:
            return self.module(**params, device="meta", dtype=dtype)
        return self.module(**params)


# --- hyper-parameter schemas -------------------------------------------------------------


class NoParams(Schema):
    pass


class LinearParams(Schema):
    in_features = positive_int(load_default=None)
    out_features = positive_int(required=True)
    bias = fields.Boolean(load_default=True)


class BilinearParams(Schema):
    in1_features = positive_int(load_default=None)
    in2_features = positive_int(load_default=None)
    out_features = positive_int(required=True)
    bias = fields.Boolean(load_default=True)


class LeakyReLUParams(Schema):
    negative_slope = finite_float(0.01)


class DimParams(Schema):
    dim = fields.Integer(strict=True, load_default=-1)


class GELUParams(Schema):
    approximate = fields.String(load_default="none", validate=validate.OneOf(["none", "tanh"]))


class ELUParams(Schema):
    alpha = finite_float(1.0)


class SoftplusParams(Schema):
    beta = finite_float(1.0, validate=validate.NoneOf([0.0], error="must not be 0 (Softplus divides by beta)"))
    threshold = finite_float(20.0)


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
    p = finite_float(0.5, validate=validate.Range(min=0.0, max=1.0))


class BatchNormParams(Schema):
    num_features = positive_int(load_default=None)
    eps = finite_float(1e-5, validate=validate.Range(min=0.0, min_inclusive=False))
    momentum = finite_float(0.1)
    affine = fields.Boolean(load_default=True)


class LayerNormParams(Schema):
    normalized_shape = fields.List(positive_int(), load_default=None, validate=validate.Length(min=1))
    eps = finite_float(1e-5, validate=validate.Range(min=0.0, min_inclusive=False))
    elementwise_affine = fields.Boolean(load_default=True)
    bias = fields.Boolean(load_default=True)


class RMSNormParams(Schema):
    normalized_shape = fields.List(positive_int(), load_default=None, validate=validate.Length(min=1))
    eps = fields.Float(allow_nan=False, load_default=None, validate=validate.Range(min=0.0, min_inclusive=False))
    elementwise_affine = fields.Boolean(load_default=True)


class HardtanhParams(Schema):
    min_val = finite_float(-1.0)
    max_val = finite_float(1.0)

    @validates_schema
    def bounds_in_order(self, data, **kwargs):
        if data["max_val"] <= data["min_val"]:
            raise ValidationError(f"must be greater than min_val ({data['min_val']})", "max_val")


class RReLUParams(Schema):
    lower = finite_float(1.0 / 8)
    upper = finite_float(1.0 / 3)

    @validates_schema
    def bounds_in_order(self, data, **kwargs):
        if data["upper"] < data["lower"]:
            raise ValidationError(f"must be at least lower ({data['lower']})", "upper")


class PReLUParams(Schema):
    num_parameters = positive_int(load_default=1)
    init = finite_float(0.25)


class CELUParams(Schema):
    alpha = finite_float(1.0, validate=validate.NoneOf([0.0], error="must not be 0 (CELU divides by alpha)"))


class ShrinkParams(Schema):
    lambd = finite_float(0.5)


class SoftshrinkParams(Schema):
    lambd = finite_float(0.5, validate=validate.Range(min=0.0))


class ThresholdParams(Schema):
    threshold = fields.Float(allow_nan=False, required=True)
    value = fields.Float(allow_nan=False, required=True)


class GroupNormParams(Schema):
    num_groups = positive_int(required=True)
    num_channels = positive_int(load_default=None)
    eps = finite_float(1e-5, validate=validate.Range(min=0.0, min_inclusive=False))
    affine = fields.Boolean(load_default=True)


class InstanceNormParams(Schema):
    num_features = positive_int(load_default=None)
    eps = finite_float(1e-5, validate=validate.Range(min=0.0, min_inclusive=False))
    momentum = finite_float(0.1)
    affine = fields.Boolean(load_default=False)
    track_running_stats = fields.Boolean(load_default=False)


class EmbeddingParams(Schema):
    num_embeddings = positive_int(required=True)
    embedding_dim = positive_int(required=True)
    padding_idx = fields.Integer(strict=True, load_default=None)

    @validates_schema
    def padding_idx_in_range(self, data, **kwargs):
        count, index = data["num_embeddings"], data["padding_idx"]
        if index is not None and not -count <= index < count:
            raise ValidationError(f"must be within num_embeddings: {-count}..{count - 1}", "padding_idx")


# --- shape rules ---------------------------------------------------------------------------


def same_shape(params, shapes):
    """Unchanged."""
    return params, shapes[0]


def along_dim(params, shapes):
    """Unchanged; `dim` must not be the batch."""
    sample_dim("dim", params["dim"], shapes[0])
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
    """[..., in] → [..., out]; `in_features` inferred from the last dimension."""
    (shape,) = shapes
    params = _features(params, "in_features", shape)
    return params, shape[:-1] + (params["out_features"],)


def bilinear(params, shapes):
    """[..., in1] and [..., in2] with equal leading dims → [..., out]; `in1_features`, `in2_features` inferred."""
    first, second = shapes
    params = _features(params, "in1_features", first, 0)
    params = _features(params, "in2_features", second, 1)
    if first[:-1] != second[:-1]:
        raise ShapeMismatch(f"leading dimensions [{format_dims(first[:-1])}] like the first input", second, 1)
    return params, first[:-1] + (params["out_features"],)


def batch_norm(params, shapes):
    """Per-sample [C] or [C, L], unchanged; `num_features` inferred as C."""
    (shape,) = shapes
    if len(shape) not in (1, 2):
        raise ShapeMismatch("per-sample shape [C] or [C, L]", shape)
    return channels(params, "num_features", shape), shape


def normalized(params, shapes):
    """Unchanged; trailing dims must equal `normalized_shape` (inferred as [last dim])."""
    (shape,) = shapes
    wanted = params["normalized_shape"]
    if not shape:
        raise ShapeMismatch("at least one dimension", shape)
    if wanted is None:
        return {**params, "normalized_shape": [shape[-1]]}, shape
    if list(shape[len(shape) - len(wanted) :]) != wanted or len(wanted) > len(shape):
        raise ShapeMismatch(f"trailing dimensions [{format_dims(wanted)}]", shape)
    return params, shape


def flatten(params, shapes):
    """Dims `start_dim`..`end_dim` merged into one."""
    (shape,) = shapes
    start = sample_dim("start_dim", params["start_dim"], shape)
    end = sample_dim("end_dim", params["end_dim"], shape)
    if start > end:
        raise ParamError("start_dim", "start_dim comes after end_dim")
    return params, shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :]


def unflatten(params, shapes):
    """Dimension `dim` split into `unflattened_size` (one entry may be -1)."""
    (shape,) = shapes
    at = sample_dim("dim", params["dim"], shape)
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


def prelu(params, shapes):
    """Unchanged; `num_parameters` other than 1 must equal the first per-sample dimension (the channels)."""
    (shape,) = shapes
    count = params["num_parameters"]
    if count != 1 and (not shape or shape[0] != count):
        raise ShapeMismatch(f"{count} channels in the first dimension (one slope each)", shape)
    return params, shape


def glu(params, shapes):
    """Dimension `dim` halved (its size must be even); `dim` must not be the batch."""
    (shape,) = shapes
    at = sample_dim("dim", params["dim"], shape)
    if shape[at] % 2:
        raise ShapeMismatch(f"an even size in dimension {params['dim']} (split in halves)", shape)
    return params, shape[:at] + (shape[at] // 2,) + shape[at + 1 :]


def group_norm(params, shapes):
    """Per-sample [C, ...], unchanged; `num_channels` inferred as C, divisible by `num_groups`, 2+ values per group."""
    (shape,) = shapes
    if not shape:
        raise ShapeMismatch("per-sample shape [C, ...]", shape)
    params = channels(params, "num_channels", shape)
    if params["num_channels"] % params["num_groups"]:
        raise ParamError(
            "num_groups", f"{params['num_channels']} channels do not split into {params['num_groups']} groups"
        )
    # torch refuses a group of one value (its statistics are undefined), at a batch of one
    if params["num_channels"] // params["num_groups"] * math.prod(shape[1:]) < 2:
        raise ParamError(
            "num_groups",
            f"{params['num_groups']} groups over per-sample shape {list(shape)} leave one value per group; "
            "a group needs at least 2",
        )
    return params, shape


def instance_norm(params, shapes):
    """Per-sample [C, L], unchanged; `num_features` inferred as C; L ≥ 2 without running statistics."""
    (shape,) = shapes
    check_spatial(shape, 1)
    params = channels(params, "num_features", shape)
    if not params["track_running_stats"] and shape[1] < 2:
        raise ShapeMismatch("a length of at least 2 (statistics of each instance)", shape)
    return params, shape


def embedding(params, shapes):
    """Integer indices [...] → [..., embedding_dim]; reads only an index input (`dtype: int64` or `int32`)."""
    (shape,) = shapes
    return params, shape + (params["embedding_dim"],)


def broadcast(params, shapes):
    """The inputs' shapes broadcast: same rank, each size equal or 1 (a sample dim never meets the batch)."""
    out = shapes[0]
    for operand, shape in enumerate(shapes[1:], start=1):
        if len(shape) != len(out) or any(a != b and 1 not in (a, b) for a, b in zip(out, shape)):
            expected = f"a per-sample shape that broadcasts with [{format_dims(out)}] from {{references}} (same rank; each size equal or 1)"
            raise ShapeMismatch(expected, shape, operand, tuple(range(operand)))
        out = tuple(max(a, b) for a, b in zip(out, shape))
    return params, out


def concat(params, shapes):
    """The inputs joined along `dim`, where their sizes add up; every other size must match."""
    first = shapes[0]
    at = sample_dim("dim", params["dim"], first)
    for operand, shape in enumerate(shapes[1:], start=1):
        if len(shape) != len(first) or any(a != b for i, (a, b) in enumerate(zip(first, shape)) if i != at):
            pattern = format_dims(["*" if i == at else size for i, size in enumerate(first)])
            expected = (
                f"per-sample shape [{pattern}] like {{references}} (sizes may differ in dim {params['dim']} only)"
            )
            raise ShapeMismatch(expected, shape, operand, (0,))
    return params, first[:at] + (sum(shape[at] for shape in shapes),) + first[at + 1 :]


# --- multiply-adds per sample ----------------------------------------------------------------


def linear_macs(params, inputs, output):
    (shape,) = inputs
    return math.prod(shape[:-1]) * params["in_features"] * params["out_features"]


def bilinear_macs(params, inputs, output):
    return math.prod(output[:-1]) * params["in1_features"] * params["in2_features"] * params["out_features"]


def elementwise_macs(params, inputs, output):
    """Norms in eval mode: one scale-and-shift per element."""
    return math.prod(output)


def product_macs(params, inputs, output):
    """Multiply: one product per output element for every input after the first."""
    return (len(inputs) - 1) * math.prod(output)


# --- the registry --------------------------------------------------------------------------


def _activation(name, module, params=NoParams, infer=same_shape, health=None):
    return LayerType(name, module, params, infer, health=health)


def _always(rule: HealthRule) -> Callable[[dict], HealthRule]:
    return lambda params: rule


def _combinator(name, module, params, infer, macs=no_macs):
    return LayerType(name, module, params, infer, arity=2, variadic=True, macs=macs)


def _norm(name, module, params, infer):
    return LayerType(name, module, params, infer, has_tensors=True, macs=elementwise_macs)


def _with_fan_in(name, module, params, infer, fan_in, macs, **kwargs):
    return LayerType(name, module, params, infer, has_tensors=True, seed=uniform_fan_in(fan_in), macs=macs, **kwargs)


def _in_features(params):
    return params["in_features"]


def _in1_features(params):
    return params["in1_features"]


LAYER_TYPES: dict[str, LayerType] = {
    t.name: t
    for t in [
        _with_fan_in("Linear", nn.Linear, LinearParams, linear, _in_features, linear_macs),
        _with_fan_in("Dense", Dense, LinearParams, linear, _in_features, linear_macs),
        _with_fan_in("Bilinear", nn.Bilinear, BilinearParams, bilinear, _in1_features, bilinear_macs, arity=2),
        _with_fan_in("Conv1d", nn.Conv1d, conv_params(1), conv(1), conv_fan_in, conv_macs),
        _with_fan_in("Conv2d", nn.Conv2d, conv_params(2), conv(2), conv_fan_in, conv_macs),
        # activations, element by element
        _activation("ReLU", nn.ReLU, health=_always(ZERO)),
        _activation("ReLU6", nn.ReLU6, health=_always(clamp(0.0, 6.0))),
        _activation("LeakyReLU", nn.LeakyReLU, LeakyReLUParams),
        _activation("RReLU", nn.RReLU, RReLUParams),  # eval mode: the fixed slope (lower + upper) / 2
        LayerType("PReLU", nn.PReLU, PReLUParams, prelu, has_tensors=True, seed=filled_with("init")),
        _activation("Threshold", nn.Threshold, ThresholdParams, health=lambda p: dead_at(p["value"])),
        _activation("Hardtanh", nn.Hardtanh, HardtanhParams, health=lambda p: clamp(p["min_val"], p["max_val"])),
        _activation("Hardsigmoid", nn.Hardsigmoid, health=_always(clamp(0.0, 1.0))),
        _activation("Hardswish", nn.Hardswish),
        _activation("Hardshrink", nn.Hardshrink, ShrinkParams, health=_always(ZERO)),
        _activation("Softshrink", nn.Softshrink, SoftshrinkParams, health=_always(ZERO)),
        _activation("Tanhshrink", nn.Tanhshrink),
        _activation("Sigmoid", nn.Sigmoid, health=_always(saturation(0.0, 1.0))),
        _activation("LogSigmoid", nn.LogSigmoid),
        _activation("Tanh", nn.Tanh, health=_always(saturation(-1.0, 1.0))),
        _activation("Softsign", nn.Softsign, health=_always(saturation(-1.0, 1.0))),
        _activation("GELU", nn.GELU, GELUParams),
        _activation("SiLU", nn.SiLU),
        _activation("Mish", nn.Mish),
        _activation("ELU", nn.ELU, ELUParams),
        _activation("CELU", nn.CELU, CELUParams),
        _activation("SELU", nn.SELU),
        _activation("Softplus", nn.Softplus, SoftplusParams),
        # along a dimension
        _activation("Softmax", nn.Softmax, DimParams, along_dim),
        _activation("Softmin", nn.Softmin, DimParams, along_dim),
        _activation("LogSoftmax", nn.LogSoftmax, DimParams, along_dim),
        _activation("GLU", nn.GLU, DimParams, glu),
        # shapes
        LayerType("Identity", nn.Identity, NoParams, same_shape),
        LayerType("Dropout", nn.Dropout, DropoutParams, same_shape),
        LayerType("Flatten", nn.Flatten, FlattenParams, flatten),
        LayerType("Unflatten", nn.Unflatten, UnflattenParams, unflatten),
        # normalization
        _norm("BatchNorm1d", nn.BatchNorm1d, BatchNormParams, batch_norm),
        _norm("InstanceNorm1d", nn.InstanceNorm1d, InstanceNormParams, instance_norm),
        _norm("GroupNorm", nn.GroupNorm, GroupNormParams, group_norm),
        _norm("LayerNorm", nn.LayerNorm, LayerNormParams, normalized),
        _norm("RMSNorm", nn.RMSNorm, RMSNormParams, normalized),
        # pooling
        LayerType("MaxPool1d", nn.MaxPool1d, max_pool_params(1), pool(1)),
        LayerType("MaxPool2d", nn.MaxPool2d, max_pool_params(2), pool(2)),
        LayerType("AvgPool1d", nn.AvgPool1d, avg_pool_params(1), pool(1), macs=avg_pool_macs),
        LayerType("AvgPool2d", nn.AvgPool2d, AvgPool2dParams, pool(2), macs=avg_pool_macs),
        LayerType(
            "AdaptiveAvgPool1d",
            nn.AdaptiveAvgPool1d,
            adaptive_pool_params(1),
            adaptive_pool(1),
            macs=adaptive_avg_pool_macs,
        ),
        LayerType(
            "AdaptiveAvgPool2d",
            nn.AdaptiveAvgPool2d,
            adaptive_pool_params(2),
            adaptive_pool(2),
            macs=adaptive_avg_pool_macs,
        ),
        # lookups
        LayerType(
            "Embedding",
            nn.Embedding,
            EmbeddingParams,
            embedding,
            has_tensors=True,
            seed=standard_normal,
            index_bound="num_embeddings",
        ),
        # several inputs
        _combinator("Add", Add, NoParams, broadcast),
        _combinator("Multiply", Multiply, NoParams, broadcast, macs=product_macs),
        _combinator("Concat", Concat, DimParams, concat),
    ]
}
