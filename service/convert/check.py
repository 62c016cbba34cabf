"""Does a converted model compute what the served model computes? One probe batch, one tolerance."""

from pathlib import Path

import numpy as np

from ..errors import ConversionError
from ..runtime.served import ServedModel
from ..stack import load_stack

# Several rows, and not the batch size an exporter traces with: a batch dimension that was frozen
# during conversion shows up as an error here.
PROBE_ROWS = 5
# Relative to the largest output value (at least 1): conversions may reorder float sums.
TOLERANCE = 1e-4


def load_served(folder: Path, max_batch_size: int = PROBE_ROWS) -> ServedModel:
    """The model as the server runs it: the definition built, its serving path checked and warmed up."""
    definition, stack = load_stack(folder)
    served = ServedModel(definition, stack, max_batch_size)
    served.warm_up()
    return served


def probe_inputs(served: ServedModel, seed: int = 0) -> dict[str, np.ndarray]:
    """Values each input may hold: normal floats, or indices below the limit of the layer reading them."""
    rng = np.random.default_rng(seed)
    return {spec.name: spec.probe(PROBE_ROWS, rng) for spec in served.inputs}


def check_outputs(what: str, expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> float:
    """The largest absolute difference over all outputs; ConversionError when it is out of tolerance."""
    worst = 0.0
    for name, want in expected.items():
        have = np.asarray(got[name])
        if have.shape != want.shape:
            raise ConversionError(f"{what}: output {name!r} has shape {list(have.shape)}, expected {list(want.shape)}")
        difference = float(np.max(np.abs(have.astype(np.float64) - want))) if want.size else 0.0
        limit = TOLERANCE * max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
        if not difference <= limit:  # also catches NaN
            raise ConversionError(f"{what}: output {name!r} differs by up to {difference:.3g} (tolerance {limit:.3g})")
        worst = max(worst, difference)
    return worst
