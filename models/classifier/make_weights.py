"""Seeded random weights for the `classifier` model (an untrained MLP over 1x28x28 images).

The values mimic torch's default initialisation, plus some spread in the normalisation
parameters so that every layer visibly does something. Deterministic: the same seed
always gives a byte-identical weights.safetensors.

Run: python models/classifier/make_weights.py  (writes weights.safetensors beside this file).
"""

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

SEED = 0
OUTPUT = Path(__file__).with_name("weights.safetensors")


def linear(rng, name: str, in_features: int, out_features: int) -> dict[str, np.ndarray]:
    """Like torch's default Linear init: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in))."""
    bound = 1 / np.sqrt(in_features)
    return {
        f"{name}.weight": rng.uniform(-bound, bound, (out_features, in_features)),
        f"{name}.bias": rng.uniform(-bound, bound, out_features),
    }


def batch_norm(rng, name: str, num_features: int) -> dict[str, np.ndarray]:
    """Affine parameters near identity and non-trivial running statistics (used in eval mode)."""
    return {
        f"{name}.weight": rng.uniform(0.8, 1.2, num_features),
        f"{name}.bias": rng.uniform(-0.1, 0.1, num_features),
        f"{name}.running_mean": rng.normal(0.0, 0.1, num_features),
        f"{name}.running_var": rng.uniform(0.5, 1.5, num_features),
        # num_batches_tracked is deliberately omitted: it only matters for training.
    }


def layer_norm(rng, name: str, size: int) -> dict[str, np.ndarray]:
    return {
        f"{name}.weight": rng.uniform(0.8, 1.2, size),
        f"{name}.bias": rng.uniform(-0.1, 0.1, size),
    }


def rms_norm(rng, name: str, size: int) -> dict[str, np.ndarray]:
    return {f"{name}.weight": rng.uniform(0.8, 1.2, size)}


def make_weights(seed: int = SEED) -> dict[str, np.ndarray]:
    # Draw in layer order so each layer's values depend only on the seed and the layers before it.
    rng = np.random.default_rng(seed=seed)
    tensors = {
        **linear(rng, "fc1", 784, 128),
        **batch_norm(rng, "bn1", 128),
        **linear(rng, "fc2", 128, 64),
        **layer_norm(rng, "ln2", 64),
        **linear(rng, "fc3", 64, 32),
        **rms_norm(rng, "rms3", 32),
        **linear(rng, "fc4", 32, 10),
    }
    return {name: value.astype(np.float32) for name, value in tensors.items()}


if __name__ == "__main__":
    save_file(make_weights(SEED), str(OUTPUT))
    print(f"wrote {OUTPUT} (seed = {SEED})")
