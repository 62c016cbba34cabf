"""Convolution and pooling shape rules against torch itself, over random hyper-parameters.

For each configuration, either shape inference gives the shape torch computes, or it refuses an
input that torch also fails on. Nothing is refused that torch would run.
"""

import random
import warnings

import pytest
import torch
from marshmallow import RAISE, ValidationError

from service.stack import LAYER_TYPES
from service.stack.shapes import ParamError, ShapeMismatch

KINDS = [
    "Conv1d",
    "Conv2d",
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
]


def sizes(rng: random.Random, dims: int, low: int, high: int):
    return rng.randint(low, high) if rng.random() < 0.5 else [rng.randint(low, high) for _ in range(dims)]


def random_params(rng: random.Random, kind: str, dims: int) -> dict:
    optional = {}
    if kind.startswith("Conv"):
        params = {"out_channels": rng.choice([1, 2, 4, 6]), "kernel_size": sizes(rng, dims, 1, 4)}
        optional = {
            "stride": sizes(rng, dims, 1, 3),
            "padding": rng.choice(["same", "valid", sizes(rng, dims, 0, 3)]),
            "dilation": sizes(rng, dims, 1, 3),
            "groups": rng.choice([1, 2, 3]),
            "padding_mode": rng.choice(["zeros", "reflect", "replicate", "circular"]),
        }
    elif kind.startswith("Adaptive"):
        params = {"output_size": sizes(rng, dims, 1, 5)}
    else:
        params = {"kernel_size": sizes(rng, dims, 1, 4)}
        optional = {"stride": sizes(rng, dims, 1, 3), "padding": sizes(rng, dims, 0, 2), "ceil_mode": True}
        optional |= {"dilation": sizes(rng, dims, 1, 3)} if kind.startswith("Max") else {"count_include_pad": False}
    return params | {key: value for key, value in optional.items() if rng.random() < 0.5}


def with_channels(params: dict, shape) -> dict:
    return {**params, "in_channels": shape[0]} if "in_channels" in params else params


def inferred(layer_type, params, shape):
    try:
        return layer_type.infer(params, [shape])
    except (ShapeMismatch, ParamError) as refusal:
        return refusal


def torch_output_shape(layer_type, params, shape):
    try:
        module = layer_type.build(params, torch.float32)
        if layer_type.has_tensors:
            module = module.to_empty(device="cpu")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 'same' padding with an even kernel warns about a copy
            return tuple(module(torch.randn(2, *shape)).shape[1:])
    except (RuntimeError, ValueError) as failure:
        return failure


@pytest.mark.parametrize("seed", range(4))
def test_shape_rules_agree_with_torch(seed):
    rng = random.Random(seed)
    checked = refused = 0
    for _ in range(150):
        kind = rng.choice(KINDS)
        dims = int(kind[-2])
        shape = (rng.randint(1, 4), *(rng.randint(1, 9) for _ in range(dims)))
        layer_type = LAYER_TYPES[kind]
        try:
            params = layer_type.params(unknown=RAISE).load(random_params(rng, kind, dims))
        except ValidationError:
            continue
        ours = inferred(layer_type, params, shape)
        # where we refuse, torch gets the channels we would have inferred, and must fail too
        built = ours[0] if isinstance(ours, tuple) else with_channels(params, shape)
        theirs = torch_output_shape(layer_type, built, shape)
        if isinstance(ours, Exception):
            assert isinstance(theirs, Exception), (kind, params, shape, str(ours), theirs)
            refused += 1
        else:
            assert ours[1] == theirs, (kind, params, shape)
            checked += 1
    assert checked > 50 and refused > 5
