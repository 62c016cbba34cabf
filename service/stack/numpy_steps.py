"""The numpy serving step of each layer type that has one: a function of the module, built once
per model, that computes the layer's output from numpy arrays (see numpy_path.py for why).

Each registry entry names its step here (`LayerType.numpy_step`); a type without one keeps a
model on the torch path. Steps read the torch parameters' own memory (no copy), so they stay
shared between gunicorn's workers.
"""

import functools
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

Step = Callable[..., np.ndarray]


def linear(module: nn.Module) -> Step:
    """torch's layout (out, in): `x @ weight.T` reads the transpose in place."""
    return _affine(module.weight.detach().numpy().T, module.bias)


def dense(module: nn.Module) -> Step:
    """The inputs × neurons layout (in, out): `x @ weight` as it is stored."""
    return _affine(module.weight.detach().numpy(), module.bias)


def _affine(weight: np.ndarray, bias) -> Step:
    """x @ weight + bias, with `weight` laid out (in, out)."""
    if bias is None:
        return lambda x: x @ weight
    bias = bias.detach().numpy()

    def affine(x):
        y = x @ weight
        y += bias
        return y

    return affine


def leaky_relu(module: nn.LeakyReLU) -> Step:
    slope = module.negative_slope
    return lambda x: np.where(x > 0, x, x * np.asarray(slope, dtype=x.dtype))


def relu(module: nn.Module) -> Step:
    return lambda x: np.maximum(x, np.zeros((), dtype=x.dtype))


def tanh(module: nn.Module) -> Step:
    return np.tanh


def torch_kernel(module: nn.Module) -> Step:
    """An elementwise activation numpy has no ufunc for (GELU needs erf): the module's own torch
    kernel, run on the array's memory (from_numpy shares it), so its values are torch's to the
    bit. One operator call costs a few µs; the matrix products around it are what numpy saves."""

    def step(x):
        return module(torch.from_numpy(x if x.flags.writeable else x.copy())).numpy()

    return step


def identity(module: nn.Module) -> Step:
    """Identity, and Dropout in eval mode: the input passes through."""
    return lambda x: x


def add(module: nn.Module) -> Step:
    return lambda first, *rest: functools.reduce(np.add, rest, first)


def multiply(module: nn.Module) -> Step:
    return lambda first, *rest: functools.reduce(np.multiply, rest, first)


def concat(module: nn.Module) -> Step:
    dim = module.dim
    return lambda *inputs: np.concatenate(inputs, axis=dim)
