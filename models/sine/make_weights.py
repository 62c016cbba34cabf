"""Compute (not train) the weights of the `sine` model: ReLU ramps and tents approximate a sine.

Place knots k_i = i*h, h = 2*pi/N, for i = -1..N+1.

* Ramps: layer `ramp` computes x - k_i for every knot; after ReLU that is the ramp
  R_i(x) = max(0, x - k_i), flat until k_i, then rising with slope 1.
* Tents: layer `tent` combines three neighbouring ramps,
  T_j = (R_{j-1} - 2*R_j + R_{j+1}) / h, for j = 0..N. The slopes add up to
  0, +1/h, -1/h, 0, so T_j is the hat function that is 1 at k_j and 0 outside
  [k_{j-1}, k_{j+1}]. It is never negative, so the ReLU after it changes nothing.
* Heights: layer `height` sums the tents weighted by sin(k_j), which is the
  piecewise-linear interpolation of sin through the knots.

The extra knots at i = -1 and i = N+1 give the end tents T_0 and T_N their outer halves.

Run: python models/sine/make_weights.py  (writes weights.safetensors beside this file).
"""

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

# Linear interpolation error is at most h^2/8 * max|sin''| = h^2/8 with h = 2*pi/N.
# N = 64 gives h^2/8 ~= 0.0012, well under the 0.01 target.
# model.yaml hard-codes N + 3 ramps and N + 1 tents: keep it in step with N.
N = 64

OUTPUT = Path(__file__).with_name("weights.safetensors")


def knots(n: int) -> np.ndarray:
    """Knots k_i = i*h for i = -1..n+1 (n + 3 of them)."""
    h = 2 * np.pi / n
    return np.arange(-1, n + 2) * h


def ramp_layer(k: np.ndarray) -> dict[str, np.ndarray]:
    """Linear(1, n+3): x - k_i, which the following ReLU turns into ramps."""
    return {
        "ramp.weight": np.ones((len(k), 1)),
        "ramp.bias": -k,
    }


def tent_layer(n: int, h: float) -> dict[str, np.ndarray]:
    """Linear(n+3, n+1): tent j = (R_{j-1} - 2 R_j + R_{j+1}) / h.

    Ramp R_i sits at column i + 1 (ramps start at i = -1), so tent j reads columns j, j+1, j+2.
    """
    weight = np.zeros((n + 1, n + 3))
    for j in range(n + 1):
        weight[j, j : j + 3] = np.array([1.0, -2.0, 1.0]) / h
    return {"tent.weight": weight, "tent.bias": np.zeros(n + 1)}


def height_layer(tent_centres: np.ndarray) -> dict[str, np.ndarray]:
    """Linear(n+1, 1): each tent scaled to the sine's height at its centre."""
    return {
        "height.weight": np.sin(tent_centres)[np.newaxis, :],
        "height.bias": np.zeros(1),
    }


def make_weights(n: int = N) -> dict[str, np.ndarray]:
    k = knots(n)
    h = 2 * np.pi / n
    tensors = {**ramp_layer(k), **tent_layer(n, h), **height_layer(k[1:-1])}
    # Compute in float64, store float32: the model dtype.
    return {name: value.astype(np.float32) for name, value in tensors.items()}


if __name__ == "__main__":
    save_file(make_weights(N), str(OUTPUT))
    print(f"wrote {OUTPUT} (N = {N})")
