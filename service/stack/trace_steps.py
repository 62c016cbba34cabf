"""The steps a trace shows inside a layer, for the types that have some: how a person computes
the layer by hand (x·W, then + bias, then the output). A registry entry names its rule
(`LayerType.trace`); the runtime bounds each step's values like every other traced tensor.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TraceStep:
    name: str
    value: torch.Tensor


@dataclass(frozen=True)
class StepRule:
    names: tuple[str, ...]  # the steps it may send, in order: what clients can rely on
    compute: Callable[[nn.Module, list[torch.Tensor], torch.Tensor], list[TraceStep]]

    def __call__(self, module, inputs, output) -> list[TraceStep]:
        return self.compute(module, inputs, output)


def _affine_steps(product: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
    def compute(module, inputs, output) -> list[TraceStep]:
        steps = [TraceStep("product", product(inputs[0], module.weight))]
        if module.bias is not None:
            steps.append(TraceStep("bias", module.bias))
        return [*steps, TraceStep("output", output)]

    return compute


# torch's layout (out, in): x·Wᵀ
LINEAR = StepRule(("product", "bias", "output"), _affine_steps(F.linear))
# inputs × neurons: x·W
DENSE = StepRule(("product", "bias", "output"), _affine_steps(torch.matmul))
