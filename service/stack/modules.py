"""Modules that torch.nn does not have."""

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
