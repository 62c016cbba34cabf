"""How `init: {seed: N}` fills a layer's tensors: torch's default initialization, drawn with numpy.

Each rule takes the layer's hyper-parameters (inferred ones filled in), the shapes of the
tensors to fill by state-dict name, and the layer's random stream; it returns float64 arrays.
"""

from collections.abc import Callable

import numpy as np

Shape = tuple[int, ...]
SeedRule = Callable[[dict, dict[str, Shape], np.random.Generator], dict[str, np.ndarray]]

# The values torch's reset_parameters() gives norm layers.
_RESET = {"weight": np.ones, "bias": np.zeros, "running_mean": np.zeros, "running_var": np.ones}


def reset_values(params: dict, shapes: dict[str, Shape], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Norm layers: weight 1, bias 0, running_mean 0, running_var 1."""
    return {name: _RESET[name](shape) for name, shape in shapes.items()}


def uniform_fan_in(fan_in: Callable[[dict], int]) -> SeedRule:
    """Linear and convolution layers: weight and bias uniform in ±1/√fan_in (torch's kaiming_uniform(a=√5))."""

    def rule(params, shapes, rng):
        """Uniform in ±1/√fan_in."""
        bound = 1.0 / np.sqrt(fan_in(params))
        return {name: rng.uniform(-bound, bound, size=shape) for name, shape in shapes.items()}

    return rule


def filled_with(param: str) -> SeedRule:
    """Every value the hyper-parameter `param` (PReLU's slopes start at `init`)."""

    def rule(params, shapes, rng):
        """Every value the hyper-parameter `init`."""
        return {name: np.full(shape, params[param], dtype=np.float64) for name, shape in shapes.items()}

    return rule


def standard_normal(params: dict, shapes: dict[str, Shape], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Embedding: N(0, 1), with the padding_idx row zero."""
    values = {name: rng.standard_normal(size=shape) for name, shape in shapes.items()}
    if params.get("padding_idx") is not None and "weight" in values:
        values["weight"][params["padding_idx"]] = 0.0
    return values
