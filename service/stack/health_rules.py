"""Activation health: where an activation's gradient vanishes, read from its output alone.

A neuron is one element of a layer's per-sample output. It is *dead* on a sample when the layer
outputs the constant it replaces cut-off inputs with (0 for ReLU), and *saturated* when the
output sits at a bound of the output range: exactly at it for hard clamps (ReLU6, Hardtanh),
within a margin of it for smooth curves (Sigmoid, Tanh). Counting, per neuron, the samples
where the rule holds gives both a batch's picture (trace) and a running one (served traffic).
"""

from dataclasses import dataclass

import numpy as np
import torch

# Within 1% of the output range from a bound (Sigmoid: below 0.01 or above 0.99; Tanh: beyond
# ±0.98), the gradient has all but vanished.
SATURATION_MARGIN = 0.01


@dataclass(frozen=True)
class HealthRule:
    kind: str  # "zero": output exactly `low` (dead); "saturation": output near a bound
    low: float = 0.0
    high: float = 0.0
    margin: float = SATURATION_MARGIN  # of the output range; 0 for hard clamps

    @property
    def counted(self) -> str:
        return "dead" if self.kind == "zero" else "saturated"

    def hits(self, output: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Per neuron, how many samples of the batch meet the rule (int64, per-sample shape
        flattened), of the kind it was given: numpy's operations on a small model's outputs cost
        a fraction of torch's."""
        flat = output.reshape(output.shape[0], -1)
        if self.kind == "zero":
            met = flat == self.low
        else:
            margin = self.margin * (self.high - self.low)
            met = (flat <= self.low + margin) | (flat >= self.high - margin)
        return met.sum(0)  # a sum of booleans is int64 in both


ZERO = HealthRule("zero")


def dead_at(value: float) -> HealthRule:
    """A layer that outputs `value` wherever it cuts its input off (Threshold), with no gradient there."""
    return HealthRule("zero", value)


def saturation(low: float, high: float) -> HealthRule:
    """A smooth curve flattening toward its bounds: saturated within the margin of either."""
    return HealthRule("saturation", low, high)


def clamp(low: float, high: float) -> HealthRule:
    """A hard clamp: saturated exactly at a bound, where its gradient is 0."""
    return HealthRule("saturation", low, high, margin=0.0)


def summarize(rule: HealthRule, hits, samples: int, max_values: int) -> dict:
    """The health of one layer from its per-neuron hit counts over `samples` samples."""
    hits = torch.as_tensor(hits)
    neurons = hits.numel()
    fractions = (hits.double() / samples) if samples else torch.zeros(neurons, dtype=torch.float64)
    return {
        "rule": rule.kind,
        "neurons": neurons,
        "samples": samples,
        "fraction": float(fractions.mean()) if neurons else 0.0,
        rule.counted: int((hits == samples).sum()) if samples else 0,
        "per_neuron": fractions[:max_values].tolist(),
        "truncated": neurons > max_values,
    }
