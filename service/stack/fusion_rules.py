"""What the serving path may rewrite a layer into, in eval mode (see optimize.py).

Each function reads a built module's tensors with numpy in float64 (no torch compute: the
serving path is built before gunicorn forks). A registry entry names the rules its type follows.
"""

import numpy as np
from torch import nn

Affine = tuple[np.ndarray, np.ndarray]  # (weight laid out (out, in), bias): y = x @ weight.T + bias


def _float64(tensor) -> np.ndarray:
    return tensor.detach().numpy().astype(np.float64)


def _bias(module: nn.Module, out_features: int) -> np.ndarray:
    return _float64(module.bias) if module.bias is not None else np.zeros(out_features)


def linear_affine(module: nn.Module) -> Affine:
    weight = _float64(module.weight)
    return weight, _bias(module, weight.shape[0])


def dense_affine(module: nn.Module) -> Affine:
    """Stored inputs × neurons: transposed to torch's (out, in) layout."""
    weight = _float64(module.weight).T
    return weight, _bias(module, weight.shape[0])


def batch_norm_scale_shift(module: nn.BatchNorm1d, input_shape: tuple[int, ...]) -> Affine | None:
    """With running statistics, per feature: y = scale · x + shift. Only for per-sample shape [C]
    (for [C, L] the scale would apply along the channel axis, not the last one)."""
    if len(input_shape) != 1:
        return None
    variance = _float64(module.running_var)
    mean = _float64(module.running_mean)
    gamma = _float64(module.weight) if module.weight is not None else np.ones_like(mean)
    beta = _float64(module.bias) if module.bias is not None else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + module.eps)
    return scale, beta - mean * scale
