"""The steps a trace shows inside a layer, for the types that have some: the layer computed the
way a person computes it by hand. A registry entry names its rule (`LayerType.trace`); the
runtime bounds each step's values like every other traced tensor.

- Linear and Dense: `terms` (each xᵢ·wᵢⱼ before the sum, shape [batch, out, in]; sent for small
  layers or on request), `product` (x·Wᵀ for Linear, x·W for Dense), `bias`, `output`.
- LayerNorm and BatchNorm1d: `mean`, `variance` (BatchNorm1d in eval: the running statistics,
  marked `running`), `normalized` = (x − mean) / √(variance + eps), `output` = γ·normalized + β.
- RMSNorm: `rms` = √(mean(x²) + eps) as torch computes it, `normalized` = x / rms, `output` = γ·normalized.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

# Terms are sent unasked when in_features × out_features is at most this: a layer a person can read.
TERMS_UNASKED = 4096


@dataclass(frozen=True)
class TraceStep:
    name: str
    value: torch.Tensor
    label: str
    shape: tuple[int, ...] | None = None  # the whole step's shape, when `value` holds only its first rows
    running: bool = False  # statistics kept from training, not computed from this batch


@dataclass(frozen=True)
class StepOptions:
    max_values: int  # values the answer sends per step: a step may compute no more than that
    terms: bool | None = None  # the request's `terms` parameter; None: the layer's size decides


@dataclass(frozen=True)
class StepRule:
    names: tuple[str, ...]  # the steps it may send, in order: what clients can rely on
    compute: Callable[[nn.Module, list[torch.Tensor], torch.Tensor, StepOptions], list[TraceStep]]

    def __call__(self, module, inputs, output, options: StepOptions) -> list[TraceStep]:
        return self.compute(module, inputs, output, options)


# --- Linear, Dense -----------------------------------------------------------------------------


def _affine(weight_of: Callable[[nn.Module], torch.Tensor], product: str, term: str) -> StepRule:
    """`weight_of` gives the weight laid out (out, in), as torch's Linear keeps it."""

    def compute(module, inputs, output, options):
        (x,) = inputs
        weight = weight_of(module)
        out_features, in_features = weight.shape
        steps = []
        if options.terms or (options.terms is None and in_features * out_features <= TERMS_UNASKED):
            steps.append(_terms(x, weight, options.max_values, term))
        steps.append(TraceStep("product", x @ weight.T, product))
        if module.bias is not None:
            steps.append(TraceStep("bias", module.bias, "b"))
        return [*steps, TraceStep("output", output, f"{product} + b" if module.bias is not None else product)]

    return StepRule(("terms", "product", "bias", "output"), compute)


def _terms(x: torch.Tensor, weight: torch.Tensor, max_values: int, label: str) -> TraceStep:
    """terms[..., j, i] = x[..., i]·W[j, i], computed only as far as the answer sends them."""
    out_features, in_features = weight.shape
    shape = (*x.shape[:-1], out_features, in_features)
    rows = x.reshape(-1, in_features)
    needed = math.ceil(max_values / (out_features * in_features)) if max_values else 0
    rows = rows[: max(needed, 1)]
    neurons = out_features if needed > 1 else min(out_features, max(1, math.ceil(max_values / in_features)))
    return TraceStep("terms", rows[:, None, :] * weight[None, :neurons, :], label, shape)


LINEAR = _affine(lambda module: module.weight, "x·Wᵀ", "xᵢ·Wⱼᵢ")  # W: neurons × inputs
DENSE = _affine(lambda module: module.weight.T, "x·W", "xᵢ·Wᵢⱼ")  # W: inputs × neurons


# --- normalization ---------------------------------------------------------------------------


def _scale_shift(module, normalized: torch.Tensor, output: torch.Tensor) -> TraceStep:
    affine = getattr(module, "weight", None) is not None
    shifted = getattr(module, "bias", None) is not None
    label = ("γ·n" if affine else "n") + (" + β" if shifted else "")
    return TraceStep("output", output, label)


def _layer_norm(module: nn.LayerNorm, inputs, output, options) -> list[TraceStep]:
    (x,) = inputs
    dims = tuple(range(-len(module.normalized_shape), 0))
    mean = x.mean(dim=dims, keepdim=True)
    variance = x.var(dim=dims, keepdim=True, unbiased=False)
    normalized = (x - mean) / torch.sqrt(variance + module.eps)
    kept = x.shape[: x.dim() - len(dims)]
    return [
        TraceStep("mean", mean.reshape(kept), "mean(x)"),
        TraceStep("variance", variance.reshape(kept), "mean((x − mean)²)"),
        TraceStep("normalized", normalized, f"(x − mean) / √(variance + {module.eps:g})"),
        _scale_shift(module, normalized, output),
    ]


def _batch_norm(module: nn.BatchNorm1d, inputs, output, options) -> list[TraceStep]:
    """Eval mode: the running statistics, per feature (channel), from training."""
    (x,) = inputs
    along = (-1,) + (1,) * (x.dim() - 2)  # [B, C] or [B, C, L]: the channel is dim 1
    mean, variance = module.running_mean, module.running_var
    normalized = (x - mean.reshape(along)) / torch.sqrt(variance.reshape(along) + module.eps)
    return [
        TraceStep("mean", mean, "running mean", running=True),
        TraceStep("variance", variance, "running variance", running=True),
        TraceStep("normalized", normalized, f"(x − running mean) / √(running variance + {module.eps:g})"),
        _scale_shift(module, normalized, output),
    ]


def _rms_norm(module: nn.RMSNorm, inputs, output, options) -> list[TraceStep]:
    """torch's formula: x / √(mean(x²) + eps), eps defaulting to the dtype's machine epsilon."""
    (x,) = inputs
    dims = tuple(range(-len(module.normalized_shape), 0))
    eps = module.eps if module.eps is not None else torch.finfo(x.dtype).eps
    rms = torch.sqrt(x.pow(2).mean(dim=dims, keepdim=True) + eps)
    kept = x.shape[: x.dim() - len(dims)]
    return [
        TraceStep("rms", rms.reshape(kept), f"√(mean(x²) + {eps:g})"),
        TraceStep("normalized", x / rms, "x / rms"),
        _scale_shift(module, None, output),
    ]


LAYER_NORM = StepRule(("mean", "variance", "normalized", "output"), _layer_norm)
BATCH_NORM = StepRule(("mean", "variance", "normalized", "output"), _batch_norm)
RMS_NORM = StepRule(("rms", "normalized", "output"), _rms_norm)
