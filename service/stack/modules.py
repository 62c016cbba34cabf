"""Modules that torch.nn does not have: the Dense layout and the combinators of several inputs."""

import torch
from torch import nn


class Dense(nn.Module):
    """A dense layer in the "inputs × neurons" layout: output = x · W + b, W of shape (in, out).

    This is nn.Linear with the weight stored transposed, as textbooks often write it
    (v' = v · W + b); keeping that layout means a weight copied from such a text works unchanged.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(in_features, out_features, **factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None

    def forward(self, x):
        out = x @ self.weight
        return out if self.bias is None else out + self.bias

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}"


class Add(nn.Module):
    """The element-wise sum of its inputs (torch broadcasting): a residual connection is Add(x, f(x))."""

    def forward(self, first, *rest):
        for x in rest:
            first = first + x
        return first


class Multiply(nn.Module):
    """The element-wise product of its inputs (torch broadcasting), as in a gate x * sigmoid(g)."""

    def forward(self, first, *rest):
        for x in rest:
            first = first * x
        return first


class Concat(nn.Module):
    """torch.cat of its inputs along `dim` (counting the batch dimension, as torch does)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, *inputs):
        return torch.cat(inputs, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
