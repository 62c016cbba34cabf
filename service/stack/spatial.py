"""Convolution and pooling over [C, L] and [C, H, W] samples: their hyper-parameters, torch's
output sizes (refusing what torch would refuse at run time), fan-in and multiply-adds."""

import math

from marshmallow import Schema, fields, validate

from .params import Sizes, per_dim, positive_int
from .shapes import ParamError, Shape, ShapeMismatch, channels, check_spatial, format_dims


def conv_params(dims: int) -> type[Schema]:
    class ConvParams(Schema):
        in_channels = positive_int(load_default=None)
        out_channels = positive_int(required=True)
        kernel_size = Sizes(dims, 1, required=True)
        stride = Sizes(dims, 1, load_default=1)
        padding = Sizes(dims, 0, words=("same", "valid"), load_default=0)
        dilation = Sizes(dims, 1, load_default=1)
        groups = positive_int(load_default=1)
        bias = fields.Boolean(load_default=True)
        padding_mode = fields.String(
            load_default="zeros", validate=validate.OneOf(["zeros", "reflect", "replicate", "circular"])
        )

    ConvParams.__name__ = f"Conv{dims}dParams"
    return ConvParams


def max_pool_params(dims: int) -> type[Schema]:
    class MaxPoolParams(Schema):
        kernel_size = Sizes(dims, 1, required=True)
        stride = Sizes(dims, 1, load_default=None)  # None: the kernel size, as in torch
        padding = Sizes(dims, 0, load_default=0)
        dilation = Sizes(dims, 1, load_default=1)
        ceil_mode = fields.Boolean(load_default=False)

    MaxPoolParams.__name__ = f"MaxPool{dims}dParams"
    return MaxPoolParams


def avg_pool_params(dims: int) -> type[Schema]:
    class AvgPoolParams(Schema):
        kernel_size = Sizes(dims, 1, required=True)
        stride = Sizes(dims, 1, load_default=None)
        padding = Sizes(dims, 0, load_default=0)
        ceil_mode = fields.Boolean(load_default=False)
        count_include_pad = fields.Boolean(load_default=True)

    AvgPoolParams.__name__ = f"AvgPool{dims}dParams"
    return AvgPoolParams


class AvgPool2dParams(avg_pool_params(2)):  # torch's AvgPool1d has no divisor_override
    divisor_override = fields.Integer(
        strict=True, load_default=None, validate=validate.NoneOf([0], error="must not be 0")
    )


def adaptive_pool_params(dims: int) -> type[Schema]:
    class AdaptivePoolParams(Schema):
        output_size = Sizes(dims, 1, none_items=dims > 1, required=True)  # null: keep the input's size

    AdaptivePoolParams.__name__ = f"AdaptiveAvgPool{dims}dParams"
    return AdaptivePoolParams


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
        raise ShapeMismatch(f"spatial sizes of at least [{format_dims(smallest)}] for its window", shape)


def conv(dims: int):
    def infer(params, shapes):
        """[C, L] → [out_channels, L'] or [C, H, W] → [out_channels, H', W'] (torch's sizes); `in_channels` inferred."""
        (shape,) = shapes
        check_spatial(shape, dims)
        params = channels(params, "in_channels", shape)
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
        raise ShapeMismatch(f"spatial sizes above the padding [{format_dims(sides)}] to reflect", shape)
    if mode == "circular" and any(p > size for p, size in zip(sides, shape[1:])):
        raise ShapeMismatch(f"spatial sizes of at least the padding [{format_dims(sides)}] to wrap around", shape)


def pool(dims: int):
    def infer(params, shapes):
        """[C, L] → [C, L'] or [C, H, W] → [C, H', W'] (torch's sizes)."""
        (shape,) = shapes
        check_spatial(shape, dims)
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
        """[C, L] → [C, out] or [C, H, W] → [C, out_h, out_w]; a `null` size keeps the input's."""
        (shape,) = shapes
        check_spatial(shape, dims)
        sizes = per_dim(params["output_size"], dims)
        return params, (shape[0], *(size or kept for size, kept in zip(sizes, shape[1:])))

    return infer


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
