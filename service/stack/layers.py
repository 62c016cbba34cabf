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

from .health import ZERO, HealthRule, clamp, dead_at, saturation
from .modules import Add, Concat, Dense, Multiply
from .seeding import SeedRule, filled_with, reset_values, standard_normal, uniform_fan_in

Shape = tuple[int, ...]


class ShapeMismatch(Exception):
    """An input shape that a layer cannot take: `expected` describes what it needs.

    When what it needs depends on other inputs, `expected` says "{references}" where their
    names belong, and `references` holds their operand indices.
    """

    def __init__(self, expected: str, got: Shape, operand: int = 0, references: tuple[int, ...] = ()):
        super().__init__(expected)
        self.expected = expected
        self.got = got
        self.operand = operand
        self.references = references


class ParamError(Exception):
    """A hyper-parameter that is valid on its own but not for this input."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


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


class HardtanhParams(Schema):
    min_val = _float(-1.0)
    max_val = _float(1.0)

    @validates_schema
    def bounds_in_order(self, data, **kwargs):
        if data["max_val"] <= data["min_val"]:
            raise ValidationError(f"must be greater than min_val ({data['min_val']})", "max_val")


class RReLUParams(Schema):
    lower = _float(1.0 / 8)
    upper = _float(1.0 / 3)

    @validates_schema
    def bounds_in_order(self, data, **kwargs):
        if data["upper"] < data["lower"]:
            raise ValidationError(f"must be at least lower ({data['lower']})", "upper")


class PReLUParams(Schema):
    num_parameters = _positive(load_default=1)
    init = _float(0.25)


class CELUParams(Schema):
    alpha = _float(1.0, validate=validate.NoneOf([0.0], error="must not be 0 (CELU divides by alpha)"))


class ShrinkParams(Schema):
    lambd = _float(0.5)


class SoftshrinkParams(Schema):
    lambd = _float(0.5, validate=validate.Range(min=0.0))


class ThresholdParams(Schema):
    threshold = fields.Float(allow_nan=False, required=True)
    value = fields.Float(allow_nan=False, required=True)


class GroupNormParams(Schema):
    num_groups = _positive(required=True)
    num_channels = _positive(load_default=None)
    eps = _float(1e-5, validate=validate.Range(min=0.0, min_inclusive=False))
    affine = fields.Boolean(load_default=True)


class InstanceNormParams(Schema):
    num_features = _positive(load_default=None)
    eps = _float(1e-5, validate=validate.Range(min=0.0, min_inclusive=False))
    momentum = _float(0.1)
    affine = fields.Boolean(load_default=False)
    track_running_stats = fields.Boolean(load_default=False)


class Sizes(fields.Field):
    """torch's "int or tuple" size arguments: one integer for every spatial dimension, or a list
    of one per dimension; `words` are strings also allowed (a convolution's padding="same")."""

    def __init__(self, dims: int, minimum: int, words: tuple[str, ...] = (), none_items: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.dims, self.minimum, self.words, self.none_items = dims, minimum, words, none_items

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value in self.words:
            return value
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) != self.dims:
            raise ValidationError(self._expected())
        for item in items:
            if not (item is None and self.none_items) and (type(item) is not int or item < self.minimum):
                raise ValidationError(self._expected())
        return value

    def _expected(self) -> str:
        item = f"an integer ≥ {self.minimum}" + (" or null" if self.none_items else "")
        words = "".join(f" or {word!r}" for word in self.words)
        return f"must be {item}, or a list of {self.dims} of them{words}"


def per_dim(value, dims: int) -> tuple:
    """A Sizes value as one entry per spatial dimension."""
    return tuple(value) if isinstance(value, list) else (value,) * dims


def _conv_params(dims: int) -> type[Schema]:
    class ConvParams(Schema):
        in_channels = _positive(load_default=None)
        out_channels = _positive(required=True)
        kernel_size = Sizes(dims, 1, required=True)
        stride = Sizes(dims, 1, load_default=1)
        padding = Sizes(dims, 0, words=("same", "valid"), load_default=0)
        dilation = Sizes(dims, 1, load_default=1)
        groups = _positive(load_default=1)
        bias = fields.Boolean(load_default=True)
        padding_mode = fields.String(
            load_default="zeros", validate=validate.OneOf(["zeros", "reflect", "replicate", "circular"])
        )

    ConvParams.__name__ = f"Conv{dims}dParams"
    return ConvParams


def _max_pool_params(dims: int) -> type[Schema]:
    class MaxPoolParams(Schema):
        kernel_size = Sizes(dims, 1, required=True)
        stride = Sizes(dims, 1, load_default=None)  # None: the kernel size, as in torch
        padding = Sizes(dims, 0, load_default=0)
        dilation = Sizes(dims, 1, load_default=1)
        ceil_mode = fields.Boolean(load_default=False)

    MaxPoolParams.__name__ = f"MaxPool{dims}dParams"
    return MaxPoolParams


def _avg_pool_params(dims: int) -> type[Schema]:
    class AvgPoolParams(Schema):
        kernel_size = Sizes(dims, 1, required=True)
        stride = Sizes(dims, 1, load_default=None)
        padding = Sizes(dims, 0, load_default=0)
        ceil_mode = fields.Boolean(load_default=False)
        count_include_pad = fields.Boolean(load_default=True)

    AvgPoolParams.__name__ = f"AvgPool{dims}dParams"
    return AvgPoolParams


class AvgPool2dParams(_avg_pool_params(2)):  # torch's AvgPool1d has no divisor_override
    divisor_override = fields.Integer(
        strict=True, load_default=None, validate=validate.NoneOf([0], error="must not be 0")
    )


def _adaptive_pool_params(dims: int) -> type[Schema]:
    class AdaptivePoolParams(Schema):
        output_size = Sizes(dims, 1, none_items=dims > 1, required=True)  # null: keep the input's size

    AdaptivePoolParams.__name__ = f"AdaptiveAvgPool{dims}dParams"
    return AdaptivePoolParams


class EmbeddingParams(Schema):
    num_embeddings = _positive(required=True)
    embedding_dim = _positive(required=True)
    padding_idx = fields.Integer(strict=True, load_default=None)

    @validates_schema
    def padding_idx_in_range(self, data, **kwargs):
        count, index = data["num_embeddings"], data["padding_idx"]
        if index is not None and not -count <= index < count:
            raise ValidationError(f"must be within num_embeddings: {-count}..{count - 1}", "padding_idx")


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


def prelu(params, shapes):
    (shape,) = shapes
    count = params["num_parameters"]
    if count != 1 and (not shape or shape[0] != count):
        raise ShapeMismatch(f"{count} channels in the first dimension (one slope each)", shape)
    return params, shape


def glu(params, shapes):
    (shape,) = shapes
    at = _sample_dim("dim", params["dim"], shape)
    if shape[at] % 2:
        raise ShapeMismatch(f"an even size in dimension {params['dim']} (split in halves)", shape)
    return params, shape[:at] + (shape[at] // 2,) + shape[at + 1 :]


def _channels(params, key, shape):
    """Check (or infer) the channel count a layer reads from the first per-sample dimension."""
    if params[key] is None:
        return {**params, key: shape[0]}
    if params[key] != shape[0]:
        raise ShapeMismatch(f"{params[key]} channels in the first dimension", shape)
    return params


def _spatial(shape: Shape, dims: int) -> None:
    if len(shape) != dims + 1:
        names = ["L"] if dims == 1 else ["H", "W"]
        raise ShapeMismatch(f"per-sample shape [C, {', '.join(names)}]", shape)


def group_norm(params, shapes):
    (shape,) = shapes
    if not shape:
        raise ShapeMismatch("per-sample shape [C, ...]", shape)
    params = _channels(params, "num_channels", shape)
    if params["num_channels"] % params["num_groups"]:
        raise ParamError(
            "num_groups", f"{params['num_channels']} channels do not split into {params['num_groups']} groups"
        )
    return params, shape


def instance_norm(params, shapes):
    (shape,) = shapes
    _spatial(shape, 1)
    params = _channels(params, "num_features", shape)
    if not params["track_running_stats"] and shape[1] < 2:
        raise ShapeMismatch("a length of at least 2 (statistics of each instance)", shape)
    return params, shape


def _window_output(size, kernel, stride, padding, dilation, ceil_mode=False) -> int:
    """torch's output length of a window sliding over `size` values (pooling_output_shape)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the right padding
    return out


def _windows_fit(outputs, shape, kernel, dilation, padding):
    if min(outputs) < 1:
        smallest = [d * (k - 1) + 1 - 2 * p for k, d, p in zip(kernel, dilation, padding)]
        raise ShapeMismatch(f"spatial sizes of at least [{_dims(smallest)}] for its window", shape)


def conv(dims: int):
    def infer(params, shapes):
        (shape,) = shapes
        _spatial(shape, dims)
        params = _channels(params, "in_channels", shape)
        for key in ("in_channels", "out_channels"):
            if params[key] % params["groups"]:
                raise ParamError("groups", f"{key} {params[key]} is not divisible by groups {params['groups']}")
        kernel, stride, dilation = (per_dim(params[key], dims) for key in ("kernel_size", "stride", "dilation"))
        spatial = shape[1:]
        if params["padding"] == "same":
            if stride != (1,) * dims:
                raise ParamError("padding", "'same' needs stride 1")
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            sides = [max(t // 2, t - t // 2) for t in total]
            outputs = spatial
        else:
            padding = (0,) * dims if params["padding"] == "valid" else per_dim(params["padding"], dims)
            sides = padding
            outputs = [_window_output(*args) for args in zip(spatial, kernel, stride, padding, dilation)]
            _windows_fit(outputs, shape, kernel, dilation, padding)
        _padding_fits(params["padding_mode"], sides, shape)
        return params, (params["out_channels"], *outputs)

    return infer


def _padding_fits(mode: str, sides, shape: Shape) -> None:
    """reflect and circular padding read the input itself, so it must be long enough."""
    if mode == "reflect" and any(p >= size for p, size in zip(sides, shape[1:])):
        raise ShapeMismatch(f"spatial sizes above the padding [{_dims(sides)}] to reflect", shape)
    if mode == "circular" and any(p > size for p, size in zip(sides, shape[1:])):
        raise ShapeMismatch(f"spatial sizes of at least the padding [{_dims(sides)}] to wrap around", shape)


def pool(dims: int):
    def infer(params, shapes):
        (shape,) = shapes
        _spatial(shape, dims)
        kernel = per_dim(params["kernel_size"], dims)
        stride = per_dim(params["stride"] or params["kernel_size"], dims)
        padding = per_dim(params["padding"], dims)
        dilation = per_dim(params.get("dilation", 1), dims)
        if any(p > k // 2 for p, k in zip(padding, kernel)):
            raise ParamError(
                "padding", f"{params['padding']} is more than half the kernel size {params['kernel_size']}"
            )
        args = zip(shape[1:], kernel, stride, padding, dilation, [params["ceil_mode"]] * dims)
        outputs = [_window_output(*a) for a in args]
        _windows_fit(outputs, shape, kernel, dilation, padding)
        return params, (shape[0], *outputs)

    return infer


def adaptive_pool(dims: int):
    def infer(params, shapes):
        (shape,) = shapes
        _spatial(shape, dims)
        sizes = per_dim(params["output_size"], dims)
        return params, (shape[0], *(size or kept for size, kept in zip(sizes, shape[1:])))

    return infer


def embedding(params, shapes):
    (shape,) = shapes
    return params, shape + (params["embedding_dim"],)


def broadcast(params, shapes):
    """Same rank, each size equal or 1: torch broadcasting that never aligns a sample dim with the batch."""
    out = shapes[0]
    for operand, shape in enumerate(shapes[1:], start=1):
        if len(shape) != len(out) or any(a != b and 1 not in (a, b) for a, b in zip(out, shape)):
            expected = f"a per-sample shape that broadcasts with [{_dims(out)}] from {{references}} (same rank; each size equal or 1)"
            raise ShapeMismatch(expected, shape, operand, tuple(range(operand)))
        out = tuple(max(a, b) for a, b in zip(out, shape))
    return params, out


def concat(params, shapes):
    first = shapes[0]
    at = _sample_dim("dim", params["dim"], first)
    for operand, shape in enumerate(shapes[1:], start=1):
        if len(shape) != len(first) or any(a != b for i, (a, b) in enumerate(zip(first, shape)) if i != at):
            pattern = _dims(["*" if i == at else size for i, size in enumerate(first)])
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


def conv_fan_in(params) -> int:
    """The inputs one output value reads: in_channels / groups × the kernel's size."""
    kernel = params["kernel_size"]
    return params["in_channels"] // params["groups"] * math.prod(kernel if isinstance(kernel, list) else [kernel])


def conv_macs(params, inputs, output):
    kernel = per_dim(params["kernel_size"], len(output) - 1)
    return math.prod(output) * params["in_channels"] // params["groups"] * math.prod(kernel)


def avg_pool_macs(params, inputs, output):
    """One multiply-add per value of each window, like a convolution with weights 1/size."""
    return math.prod(output) * math.prod(per_dim(params["kernel_size"], len(output) - 1))


def adaptive_avg_pool_macs(params, inputs, output):
    """Window sizes vary: per output dimension, the lengths of its windows added up (torch's
    windows run from floor(i·L/n) to ceil((i+1)·L/n))."""
    (shape,) = inputs
    per_channel = 1
    for size, count in zip(shape[1:], output[1:]):
        per_channel *= sum(-(-(i + 1) * size // count) - i * size // count for i in range(count))
    return output[0] * per_channel


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
        _with_fan_in("Conv1d", nn.Conv1d, _conv_params(1), conv(1), conv_fan_in, conv_macs),
        _with_fan_in("Conv2d", nn.Conv2d, _conv_params(2), conv(2), conv_fan_in, conv_macs),
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
        LayerType("MaxPool1d", nn.MaxPool1d, _max_pool_params(1), pool(1)),
        LayerType("MaxPool2d", nn.MaxPool2d, _max_pool_params(2), pool(2)),
        LayerType("AvgPool1d", nn.AvgPool1d, _avg_pool_params(1), pool(1), macs=avg_pool_macs),
        LayerType("AvgPool2d", nn.AvgPool2d, AvgPool2dParams, pool(2), macs=avg_pool_macs),
        LayerType(
            "AdaptiveAvgPool1d",
            nn.AdaptiveAvgPool1d,
            _adaptive_pool_params(1),
            adaptive_pool(1),
            macs=adaptive_avg_pool_macs,
        ),
        LayerType(
            "AdaptiveAvgPool2d",
            nn.AdaptiveAvgPool2d,
            _adaptive_pool_params(2),
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
