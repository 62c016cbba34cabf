"""The layer registry: for each layer type, everything the service knows about it.

Adding a layer type is one entry in LAYER_TYPES: its hyper-parameters, shape rule and module,
and the optional rules that go with it (multiply-adds, activation health, the numpy serving
step, what the serving path may fold or merge, the trace's steps, conversion from torch.nn, and
the family and formula the explorer draws with). Nothing outside this registry names a type.
Hyper-parameters use torch's own argument names; shapes are per sample (the batch dimension is
implicit), while `dim`-like arguments count the batch dimension as torch does.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

from marshmallow import Schema, ValidationError, fields, missing, validate, validates_schema
from torch import nn

from . import conversion_rules, fusion_rules, numpy_steps, trace_steps
from .conversion_rules import input_shape_from
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
    family: str  # what kind of step it is, for people and pictures: linear, activation, normalization, …
    arity: int = 1
    variadic: bool = False  # takes `arity` or more inputs
    has_tensors: bool = False  # built with device/dtype, weights loaded afterwards
    seed: SeedRule = reset_values  # how init: {seed: N} fills its tensors
    health: Callable[[dict], HealthRule] | None = None  # what makes one of its neurons dead or saturated
    macs: Callable[[dict, list[Shape], Shape], int] = no_macs  # multiply-adds per sample
    index_bound: str | None = None  # reads integer indices below this hyper-parameter (Embedding)
    # serving
    numpy_step: Callable[[nn.Module], numpy_steps.Step] | None = None  # its numpy counterpart, if any
    passes_through: bool = False  # in eval mode its output is its input (dropped from the serving path)
    affine: Callable[[nn.Module], fusion_rules.Affine] | None = None  # as y = x·Wᵀ + b: merges with its neighbours
    scale_shift: Callable[[nn.Module, Shape], fusion_rules.Affine | None] | None = None  # folds into an affine step
    # inside a layer: the trace's steps, and how people write the layer down
    trace: trace_steps.StepRule | None = None
    formula: str | Callable[[dict], str] | None = None  # an activation's; "{name}" stands for a hyper-parameter
    weight_layout: str | None = None  # how its weight matrix is laid out, as the explorer draws it
    # torch.nn → definition
    input_shape: Callable[[dict], Shape | None] | None = None  # a first layer's per-sample input shape
    unservable: Callable[[nn.Module], str | None] | None = None  # a module setting eval-mode serving cannot honour

    def build(self, params: dict, dtype) -> nn.Module:
        if self.has_tensors:
            return self.module(**params, device="meta", dtype=dtype)
        return self.module(**params)

    def describe(self) -> dict:
        """The entry as the API shows it (GET /v2/layer-types)."""
        described = {
            "name": self.name,
            "family": self.family,
            "inputs": self.arity,
            "variadic": self.variadic,
            "hyperparameters": [_hyperparameter(name, field) for name, field in self.params().fields.items()],
            "shape_rule": self.infer.__name__,
            "numpy_step": self.numpy_step is not None,
            "trace_steps": list(self.trace.names) if self.trace else [],
        }
        if self.health is not None:
            described["health"] = True
        if self.formula is not None:
            described["formula"] = self.formula_for({name: name for name in self.params().fields})
        if self.weight_layout is not None:
            described["weight_layout"] = self.weight_layout
        return described

    def formula_for(self, params: dict) -> str | None:
        """The formula with this layer's hyper-parameters in it."""
        if self.formula is None:
            return None
        return self.formula(params) if callable(self.formula) else self.formula.format(**params)


def _hyperparameter(name: str, field: fields.Field) -> dict:
    described = {"name": name, "required": field.required}
    if field.load_default is not missing and not callable(field.load_default):
        described["default"] = field.load_default
    return described


def type_of_module(module: nn.Module) -> "LayerType | None":
    """The entry whose module is this module's class (a built layer, a fused step, a torch.nn module)."""
    for layer_type in LAYER_TYPES.values():
        if layer_type.module is type(module):
            return layer_type
    return None


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


def _activation(name, module, params=NoParams, infer=same_shape, **rules):
    return LayerType(name, module, params, infer, family="activation", **rules)


def _gelu_formula(params: dict) -> str:
    if params["approximate"] == "tanh":
        return "x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))"
    return "x·Φ(x), Φ the standard normal CDF"


def _always(rule: HealthRule) -> Callable[[dict], HealthRule]:
    return lambda params: rule


def _combinator(name, module, params, infer, **rules):
    return LayerType(name, module, params, infer, family="combination", arity=2, variadic=True, **rules)


def _norm(name, module, params, infer, **rules):
    return LayerType(
        name, module, params, infer, family="normalization", has_tensors=True, macs=elementwise_macs, **rules
    )


def _with_fan_in(name, module, params, infer, family, fan_in, macs, **rules):
    return LayerType(
        name, module, params, infer, family, has_tensors=True, seed=uniform_fan_in(fan_in), macs=macs, **rules
    )


def _linear(name, module, **rules):
    """Linear and Dense: the same hyper-parameters and shapes; they lay out the weight differently."""
    input_shape = input_shape_from("in_features")
    return _with_fan_in(
        name, module, LinearParams, linear, "linear", _in_features, linear_macs, input_shape=input_shape, **rules
    )


def _pool(name, module, params, infer, **rules):
    return LayerType(name, module, params, infer, family="pooling", **rules)


def _in_features(params):
    return params["in_features"]


def _in1_features(params):
    return params["in1_features"]


_ALONG_DIM = {"infer": along_dim, "unservable": conversion_rules.implicit_dim}


LAYER_TYPES: dict[str, LayerType] = {
    t.name: t
    for t in [
        _linear(
            "Linear",
            nn.Linear,
            numpy_step=numpy_steps.linear,
            affine=fusion_rules.linear_affine,
            trace=trace_steps.LINEAR,
            weight_layout="neurons × inputs",
        ),
        _linear(
            "Dense",
            Dense,
            numpy_step=numpy_steps.dense,
            affine=fusion_rules.dense_affine,
            trace=trace_steps.DENSE,
            weight_layout="inputs × neurons",
        ),
        _with_fan_in(
            "Bilinear", nn.Bilinear, BilinearParams, bilinear, "bilinear", _in1_features, bilinear_macs, arity=2
        ),
        _with_fan_in("Conv1d", nn.Conv1d, conv_params(1), conv(1), "convolution", conv_fan_in, conv_macs),
        _with_fan_in("Conv2d", nn.Conv2d, conv_params(2), conv(2), "convolution", conv_fan_in, conv_macs),
        # activations, element by element
        _activation("ReLU", nn.ReLU, health=_always(ZERO), numpy_step=numpy_steps.relu, formula="max(0, x)"),
        _activation("ReLU6", nn.ReLU6, health=_always(clamp(0.0, 6.0)), formula="min(max(0, x), 6)"),
        _activation(
            "LeakyReLU",
            nn.LeakyReLU,
            LeakyReLUParams,
            numpy_step=numpy_steps.leaky_relu,
            formula="max(0, x) + {negative_slope}·min(0, x)",
        ),
        _activation(  # eval mode: the fixed slope (lower + upper) / 2
            "RReLU", nn.RReLU, RReLUParams, formula="max(0, x) + ({lower} + {upper})/2·min(0, x)"
        ),
        _activation(
            "PReLU",
            nn.PReLU,
            PReLUParams,
            prelu,
            has_tensors=True,
            seed=filled_with("init"),
            formula="max(0, x) + a·min(0, x), a: its weight",
        ),
        _activation(
            "Threshold",
            nn.Threshold,
            ThresholdParams,
            health=lambda p: dead_at(p["value"]),
            formula="x if x > {threshold}, else {value}",
        ),
        _activation(
            "Hardtanh",
            nn.Hardtanh,
            HardtanhParams,
            health=lambda p: clamp(p["min_val"], p["max_val"]),
            formula="min(max({min_val}, x), {max_val})",
        ),
        _activation(
            "Hardsigmoid", nn.Hardsigmoid, health=_always(clamp(0.0, 1.0)), formula="min(max(0, x/6 + 1/2), 1)"
        ),
        _activation("Hardswish", nn.Hardswish, formula="x·min(max(0, x + 3), 6) / 6"),
        _activation(
            "Hardshrink", nn.Hardshrink, ShrinkParams, health=_always(ZERO), formula="x if |x| > {lambd}, else 0"
        ),
        _activation(
            "Softshrink",
            nn.Softshrink,
            SoftshrinkParams,
            health=_always(ZERO),
            formula="x − {lambd} if x > {lambd}, x + {lambd} if x < −{lambd}, else 0",
        ),
        _activation("Tanhshrink", nn.Tanhshrink, formula="x − tanh(x)"),
        _activation(
            "Sigmoid",
            nn.Sigmoid,
            health=_always(saturation(0.0, 1.0)),
            numpy_step=numpy_steps.torch_kernel,
            formula="1 / (1 + exp(−x))",
        ),
        _activation("LogSigmoid", nn.LogSigmoid, formula="log(1 / (1 + exp(−x)))"),
        _activation(
            "Tanh",
            nn.Tanh,
            health=_always(saturation(-1.0, 1.0)),
            numpy_step=numpy_steps.tanh,
            formula="(exp(x) − exp(−x)) / (exp(x) + exp(−x))",
        ),
        _activation("Softsign", nn.Softsign, health=_always(saturation(-1.0, 1.0)), formula="x / (1 + |x|)"),
        _activation("GELU", nn.GELU, GELUParams, numpy_step=numpy_steps.torch_kernel, formula=_gelu_formula),
        _activation("SiLU", nn.SiLU, numpy_step=numpy_steps.torch_kernel, formula="x / (1 + exp(−x))"),
        _activation("Mish", nn.Mish, formula="x·tanh(log(1 + exp(x)))"),
        _activation("ELU", nn.ELU, ELUParams, formula="x if x > 0, else {alpha}·(exp(x) − 1)"),
        _activation("CELU", nn.CELU, CELUParams, formula="max(0, x) + min(0, {alpha}·(exp(x / {alpha}) − 1))"),
        _activation("SELU", nn.SELU, formula="1.0507·(max(0, x) + min(0, 1.67326·(exp(x) − 1)))"),
        _activation(
            "Softplus",
            nn.Softplus,
            SoftplusParams,
            formula="log(1 + exp({beta}·x)) / {beta}, or x where {beta}·x > {threshold}",
        ),
        # along a dimension
        _activation("Softmax", nn.Softmax, DimParams, formula="exp(xᵢ) / Σⱼ exp(xⱼ) along dim {dim}", **_ALONG_DIM),
        _activation("Softmin", nn.Softmin, DimParams, formula="exp(−xᵢ) / Σⱼ exp(−xⱼ) along dim {dim}", **_ALONG_DIM),
        _activation(
            "LogSoftmax", nn.LogSoftmax, DimParams, formula="xᵢ − log Σⱼ exp(xⱼ) along dim {dim}", **_ALONG_DIM
        ),
        _activation("GLU", nn.GLU, DimParams, glu, formula="a / (1 + exp(−b)), a and b the halves along dim {dim}"),
        # shapes
        LayerType(
            "Identity",
            nn.Identity,
            NoParams,
            same_shape,
            "identity",
            passes_through=True,
            numpy_step=numpy_steps.identity,
        ),
        LayerType(  # eval mode: nothing is dropped
            "Dropout",
            nn.Dropout,
            DropoutParams,
            same_shape,
            "identity",
            passes_through=True,
            numpy_step=numpy_steps.identity,
        ),
        LayerType("Flatten", nn.Flatten, FlattenParams, flatten, "shape"),
        LayerType("Unflatten", nn.Unflatten, UnflattenParams, unflatten, "shape"),
        # normalization
        _norm(
            "BatchNorm1d",
            nn.BatchNorm1d,
            BatchNormParams,
            batch_norm,
            scale_shift=fusion_rules.batch_norm_scale_shift,
            trace=trace_steps.BATCH_NORM,
            input_shape=input_shape_from("num_features"),
            unservable=conversion_rules.batch_norm_without_running_stats,
        ),
        _norm(
            "InstanceNorm1d",
            nn.InstanceNorm1d,
            InstanceNormParams,
            instance_norm,
            input_shape=input_shape_from("num_features"),
        ),
        _norm("GroupNorm", nn.GroupNorm, GroupNormParams, group_norm),
        _norm(
            "LayerNorm",
            nn.LayerNorm,
            LayerNormParams,
            normalized,
            trace=trace_steps.LAYER_NORM,
            input_shape=input_shape_from("normalized_shape"),
        ),
        _norm(
            "RMSNorm",
            nn.RMSNorm,
            RMSNormParams,
            normalized,
            trace=trace_steps.RMS_NORM,
            input_shape=input_shape_from("normalized_shape"),
        ),
        # pooling
        _pool(
            "MaxPool1d", nn.MaxPool1d, max_pool_params(1), pool(1), unservable=conversion_rules.pool_returning_indices
        ),
        _pool(
            "MaxPool2d", nn.MaxPool2d, max_pool_params(2), pool(2), unservable=conversion_rules.pool_returning_indices
        ),
        _pool("AvgPool1d", nn.AvgPool1d, avg_pool_params(1), pool(1), macs=avg_pool_macs),
        _pool("AvgPool2d", nn.AvgPool2d, AvgPool2dParams, pool(2), macs=avg_pool_macs),
        _pool(
            "AdaptiveAvgPool1d",
            nn.AdaptiveAvgPool1d,
            adaptive_pool_params(1),
            adaptive_pool(1),
            macs=adaptive_avg_pool_macs,
        ),
        _pool(
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
            "lookup",
            has_tensors=True,
            seed=standard_normal,
            index_bound="num_embeddings",
            unservable=conversion_rules.embedding_max_norm,
        ),
        # several inputs
        _combinator("Add", Add, NoParams, broadcast, numpy_step=numpy_steps.add),
        _combinator("Multiply", Multiply, NoParams, broadcast, macs=product_macs, numpy_step=numpy_steps.multiply),
        _combinator("Concat", Concat, DimParams, concat, numpy_step=numpy_steps.concat),
    ]
}
