"""Activation health: where a ReLU is dead (exactly zero) or a Sigmoid/Tanh saturated (flat).

A neuron is one element of a layer's per-sample output. Counting, per neuron, the samples
where the rule holds gives both a batch's picture (trace) and a running one (served traffic).
"""

from dataclasses import dataclass

import torch

# Within 1% of the output range from a bound (Sigmoid: below 0.01 or above 0.99; Tanh: beyond
# ±0.98), the gradient has all but vanished.
SATURATION_MARGIN = 0.01


@dataclass(frozen=True)
class HealthRule:
    kind: str  # "zero": output exactly 0 (dead ReLU); "saturation": output near a bound
    low: float = 0.0
    high: float = 0.0

    @property
    def counted(self) -> str:
        return "dead" if self.kind == "zero" else "saturated"

    def hits(self, output: torch.Tensor) -> torch.Tensor:
        """Per neuron, how many samples of the batch meet the rule (int64, per-sample shape flattened)."""
        flat = output.reshape(output.shape[0], -1)
        if self.kind == "zero":
            met = flat == 0
        else:
            margin = SATURATION_MARGIN * (self.high - self.low)
            met = (flat <= self.low + margin) | (flat >= self.high - margin)
        return met.sum(dim=0, dtype=torch.int64)


ZERO = HealthRule("zero")


def saturation(low: float, high: float) -> HealthRule:
    return HealthRule("saturation", low, high)


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
