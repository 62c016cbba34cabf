"""Compute (not train) the weights of the sine models: ReLU ramps and tents approximate a sine.

Knots k_i = i*h for i = -1..N+1, with h = 2*pi/N rounded to a multiple of 2^-20 (see below).

* Ramps: layer `ramp` computes x - k_i for the knots i = 0..N+1; after ReLU that is the ramp
  R_i(x) = max(0, x - k_i), flat until k_i, then rising with slope 1. Its first unit is the one
  down-ramp D(x) = max(0, h - x), falling to 0 at k_1: the outer half of the first tent.
* Tents: layer `tent` combines three neighbouring ramps, T_j = R_{j-1} - 2*R_j + R_{j+1} for
  j = 1..N (R_{-1} = x + h for x >= 0), and T_0 = D. The slopes add up to 0, +1, -1, 0, so T_j
  is the hat that rises from 0 at k_{j-1} to h at k_j and falls back to 0 at k_{j+1}.
* Heights: layer `height` sums the tents weighted by sin(k_j) / h, which is the piecewise-linear
  interpolation of sin through the knots.

Why the rounded h: in float32 every tent must be exactly 0 outside its two intervals, so that
the ReLU after it reports the 2 of N + 1 tents that are alive at each x and not float residue.
With k_i a multiple of 2^-20 below 8, x - k_i is exact for every float32 x in [k_i, 8) (both are
multiples of x's spacing), and with the weights 1, -2, 1 every partial sum of the three ramps
is one of ±(x - k), exact too: the tent is exactly 0 beyond k_{j+1}, whatever order the matrix
product adds in. The one ramp that would start left of 0 (x + h) is not exact, so the first
tent is the down-ramp itself, exactly 0 from k_1 on.

Linear interpolation of sin errs by at most h^2/8 * max|sin''| = h^2/8: N = 64 gives 0.0012,
N = 8 gives 0.077, N = 4 gives 0.31. model.yaml holds N + 3 ramps and N + 1 tents for its N.

Run: python models/sine/make_weights.py  (writes weights.safetensors into each model's folder).
"""

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

# The model folders beside this one, by their number of intervals N.
SIZES = {"sine": 64, "sine_n8": 8, "sine_n4": 4}

MODELS = Path(__file__).resolve().parent.parent
GRID = 2.0**-20  # knots on this grid: exact float32 differences x - k for x < 8


def spacing(n: int) -> float:
    """2*pi/n on the knots' grid."""
    return round(2 * np.pi / n / GRID) * GRID


def ramp_layer(n: int, h: float) -> dict[str, np.ndarray]:
    """Linear(1, n+3): h - x (the first tent's half), then x - k_i for i = 0..n+1."""
    knots = np.arange(0, n + 2) * h
    return {
        "ramp.weight": np.concatenate([[-1.0], np.ones(n + 2)])[:, np.newaxis],
        "ramp.bias": np.concatenate([[h], -knots]),
    }


def tent_layer(n: int) -> dict[str, np.ndarray]:
    """Linear(n+3, n+1): T_0 = D (column 0); T_j = R_{j-1} - 2 R_j + R_{j+1} from columns j..j+2."""
    weight = np.zeros((n + 1, n + 3))
    weight[0, 0] = 1.0
    for j in range(1, n + 1):
        weight[j, j : j + 3] = [1.0, -2.0, 1.0]
    return {"tent.weight": weight, "tent.bias": np.zeros(n + 1)}


def height_layer(n: int, h: float) -> dict[str, np.ndarray]:
    """Linear(n+1, 1): each tent (height h at its knot) scaled to the sine's value there."""
    return {"height.weight": (np.sin(np.arange(n + 1) * h) / h)[np.newaxis, :], "height.bias": np.zeros(1)}


def make_weights(n: int = SIZES["sine"]) -> dict[str, np.ndarray]:
    h = spacing(n)
    tensors = {**ramp_layer(n, h), **tent_layer(n), **height_layer(n, h)}
    # Computed in float64, stored as float32: the model dtype (the knots are exact in both).
    return {name: value.astype(np.float32) for name, value in tensors.items()}


if __name__ == "__main__":
    for name, n in SIZES.items():
        output = MODELS / name / "weights.safetensors"
        save_file(make_weights(n), str(output))
        print(f"wrote {output} (N = {n})")
