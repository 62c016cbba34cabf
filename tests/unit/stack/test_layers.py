"""Every registered layer type, built from a definition, against the same layer built with torch.nn."""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch
import yaml
from torch import nn

from service.stack import LAYER_TYPES, load_stack

RNG = np.random.default_rng(20240601)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def write_definition(folder: Path, document: dict, fmt: str = "yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        (folder / "model.json").write_text(json.dumps(document))
    else:
        (folder / f"model.{fmt}").write_text(yaml.safe_dump(document, sort_keys=False))
    return folder


def load(folder: Path, document: dict, fmt: str = "yaml"):
    return load_stack(write_definition(folder, document, fmt))[1]


def with_state(module: nn.Module, **tensors) -> nn.Module:
    """The module with these tensors copied in (strictly: only num_batches_tracked may stay), in eval mode."""
    state = {name: torch.as_tensor(np.ascontiguousarray(value)) for name, value in tensors.items()}
    result = module.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    assert set(result.missing_keys) <= {"num_batches_tracked"}
    return module.eval()


def no_state(module: nn.Module) -> Callable[[dict], nn.Module]:
    return lambda tensors: module.eval()


@dataclass(frozen=True)
class Case:
    """One layer, as declared and as torch builds it; `tensors` are given inline in the definition."""

    id: str
    shapes: list[list[int]]  # per-sample input shapes
    params: dict
    reference: Callable[[dict], nn.Module]  # inline tensors -> the equivalent torch module
    tensors: dict = field(default_factory=dict)
    fmt: str = "yaml"
    scale: float = 1.0  # of the random inputs, to reach e.g. Softplus's threshold
    indices: int | None = None  # inputs of int64 indices below this bound (Embedding), not floats


W53, B3 = rand(3, 5), rand(3)
DENSE_W, DENSE_B = rand(4, 3), rand(3)  # inputs x neurons
BIL_W, BIL_B = rand(2, 5, 4), rand(2)
BN_STATS = {"weight": rand(4), "bias": rand(4), "running_mean": rand(4), "running_var": np.abs(rand(4)) + 0.5}
LN_W, LN_B = rand(3, 4), rand(3, 4)
RMS_W = rand(4)
CONV1_W, CONV1_B = rand(4, 3, 3), rand(4)
CONV1_GROUPED_W = rand(6, 1, 3)
CONV2_W = rand(4, 2, 3, 2)
CONV2_GROUPED_W, CONV2_GROUPED_B = rand(4, 1, 3, 3), rand(4)
GN_W, GN_B = rand(4), rand(4)
IN_STATS = {"weight": rand(3), "bias": rand(3), "running_mean": rand(3), "running_var": np.abs(rand(3)) + 0.5}
EMB_W = rand(10, 3)


class Function(nn.Module):
    """A torch function as a module, for the references of the combinators."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, *inputs):
        return self.function(*inputs)


def function(fn) -> Callable[[dict], nn.Module]:
    return no_state(Function(fn))


def _sum(*xs):
    return sum(xs[1:], xs[0])


def _product(*xs):
    return math.prod(xs[1:], start=xs[0])


CASES: list[tuple[str, Case]] = [
    (
        "Linear",
        Case(
            "default",
            [[5]],
            {"out_features": 3},
            lambda t: with_state(nn.Linear(5, 3), **t),
            {"weight": W53, "bias": B3},
        ),
    ),
    (
        "Linear",
        Case(
            "no_bias_2d_json",
            [[2, 5]],
            {"in_features": 5, "out_features": 3, "bias": False},
            lambda t: with_state(nn.Linear(5, 3, bias=False), **t),
            {"weight": W53},
            fmt="json",
        ),
    ),
    (
        "Dense",
        Case(
            "inputs_by_neurons",
            [[4]],
            {"in_features": 4, "out_features": 3},
            lambda t: with_state(nn.Linear(4, 3), weight=t["weight"].T, bias=t["bias"]),
            {"weight": DENSE_W, "bias": DENSE_B},
        ),
    ),
    (
        "Dense",
        Case(
            "no_bias",
            [[4]],
            {"out_features": 3, "bias": False},
            lambda t: with_state(nn.Linear(4, 3, bias=False), weight=t["weight"].T),
            {"weight": DENSE_W},
            fmt="yml",
        ),
    ),
    (
        "Bilinear",
        Case(
            "two_named_inputs",
            [[5], [4]],
            {"in1_features": 5, "in2_features": 4, "out_features": 2},
            lambda t: with_state(nn.Bilinear(5, 4, 2), **t),
            {"weight": BIL_W, "bias": BIL_B},
            fmt="json",
        ),
    ),
    (
        "Bilinear",
        Case(
            "no_bias_2d",
            [[3, 5], [3, 4]],
            {"out_features": 2, "bias": False},
            lambda t: with_state(nn.Bilinear(5, 4, 2, bias=False), **t),
            {"weight": BIL_W},
        ),
    ),
    ("ReLU", Case("plain", [[2, 3]], {}, no_state(nn.ReLU()))),
    ("LeakyReLU", Case("default", [[6]], {}, no_state(nn.LeakyReLU()))),
    ("LeakyReLU", Case("slope", [[6]], {"negative_slope": 0.2}, no_state(nn.LeakyReLU(0.2)))),
    ("Sigmoid", Case("plain", [[6]], {}, no_state(nn.Sigmoid()))),
    ("Tanh", Case("plain", [[6]], {}, no_state(nn.Tanh()))),
    ("Softmax", Case("last_dim", [[3, 4]], {}, no_state(nn.Softmax(dim=-1)))),
    ("Softmax", Case("dim_1", [[3, 4]], {"dim": 1}, no_state(nn.Softmax(dim=1)))),
    ("Softmax", Case("dim_minus_2", [[3, 4]], {"dim": -2}, no_state(nn.Softmax(dim=-2)), fmt="json")),
    ("LogSoftmax", Case("last_dim", [[3, 4]], {"dim": 2}, no_state(nn.LogSoftmax(dim=2)))),
    ("LogSoftmax", Case("dim_1", [[3, 4]], {"dim": 1}, no_state(nn.LogSoftmax(dim=1)))),
    ("GELU", Case("exact", [[6]], {}, no_state(nn.GELU()))),
    ("GELU", Case("tanh", [[6]], {"approximate": "tanh"}, no_state(nn.GELU(approximate="tanh")))),
    ("SiLU", Case("plain", [[6]], {}, no_state(nn.SiLU()))),
    ("ELU", Case("default", [[6]], {}, no_state(nn.ELU()))),
    ("ELU", Case("alpha", [[6]], {"alpha": 0.5}, no_state(nn.ELU(alpha=0.5)))),
    ("Softplus", Case("default", [[6]], {}, no_state(nn.Softplus()))),
    (
        "Softplus",
        Case("beta_threshold", [[6]], {"beta": 2.0, "threshold": 1.5}, no_state(nn.Softplus(2.0, 1.5)), scale=3.0),
    ),
    ("Identity", Case("plain", [[2, 3]], {}, no_state(nn.Identity()))),
    ("Dropout", Case("p", [[6]], {"p": 0.7}, no_state(nn.Identity()))),
    ("Dropout", Case("torch", [[6]], {"p": 0.3}, no_state(nn.Dropout(0.3)))),
    ("Flatten", Case("default", [[2, 3, 4]], {}, no_state(nn.Flatten()))),
    ("Flatten", Case("start_2", [[2, 3, 4]], {"start_dim": 2}, no_state(nn.Flatten(2)))),
    ("Flatten", Case("start_1_end_2", [[2, 3, 4]], {"start_dim": 1, "end_dim": 2}, no_state(nn.Flatten(1, 2)))),
    ("Flatten", Case("negative", [[2, 3, 4]], {"start_dim": -2, "end_dim": -1}, no_state(nn.Flatten(-2, -1)))),
    ("Unflatten", Case("minus_one", [[6]], {"dim": 1, "unflattened_size": [2, -1]}, no_state(nn.Unflatten(1, (2, 3))))),
    ("Unflatten", Case("last", [[2, 6]], {"dim": -1, "unflattened_size": [3, 2]}, no_state(nn.Unflatten(-1, (3, 2))))),
    (
        "BatchNorm1d",
        Case("features", [[4]], {"num_features": 4}, lambda t: with_state(nn.BatchNorm1d(4), **t), BN_STATS),
    ),
    (
        "BatchNorm1d",
        Case(
            "channels_length_eps",
            [[4, 5]],
            {"eps": 1e-3},
            lambda t: with_state(nn.BatchNorm1d(4, eps=1e-3), **t),
            BN_STATS,
            fmt="json",
        ),
    ),
    (
        "BatchNorm1d",
        Case(
            "no_affine",
            [[4, 5]],
            {"affine": False},
            lambda t: with_state(nn.BatchNorm1d(4, affine=False), **t),
            {"running_mean": BN_STATS["running_mean"], "running_var": BN_STATS["running_var"]},
        ),
    ),
    (
        "LayerNorm",
        Case(
            "last_dim", [[3, 4]], {}, lambda t: with_state(nn.LayerNorm(4), **t), {"weight": LN_W[0], "bias": LN_B[0]}
        ),
    ),
    (
        "LayerNorm",
        Case(
            "two_trailing_dims",
            [[2, 3, 4]],
            {"normalized_shape": [3, 4], "eps": 1e-3},
            lambda t: with_state(nn.LayerNorm([3, 4], eps=1e-3), **t),
            {"weight": LN_W, "bias": LN_B},
        ),
    ),
    (
        "LayerNorm",
        Case(
            "no_bias",
            [[4]],
            {"bias": False},
            lambda t: with_state(nn.LayerNorm(4, bias=False), **t),
            {"weight": LN_W[1]},
        ),
    ),
    (
        "LayerNorm",
        Case("no_affine", [[3, 4]], {"elementwise_affine": False}, no_state(nn.LayerNorm(4, elementwise_affine=False))),
    ),
    ("RMSNorm", Case("default", [[4]], {}, lambda t: with_state(nn.RMSNorm(4), **t), {"weight": RMS_W})),
    (
        "RMSNorm",
        Case("eps", [[4]], {"eps": 0.5}, lambda t: with_state(nn.RMSNorm([4], eps=0.5), **t), {"weight": RMS_W}),
    ),
    (
        "RMSNorm",
        Case(
            "two_trailing_dims",
            [[3, 4]],
            {"normalized_shape": [3, 4], "eps": 1e-4},
            lambda t: with_state(nn.RMSNorm([3, 4], eps=1e-4), **t),
            {"weight": LN_W},
            fmt="json",
        ),
    ),
    (
        "RMSNorm",
        Case("no_affine", [[4]], {"elementwise_affine": False}, no_state(nn.RMSNorm(4, elementwise_affine=False))),
    ),
    ("ReLU6", Case("plain", [[2, 6]], {}, no_state(nn.ReLU6()), scale=5.0)),
    ("RReLU", Case("default", [[6]], {}, no_state(nn.RReLU()))),
    ("RReLU", Case("bounds", [[6]], {"lower": 0.1, "upper": 0.5}, no_state(nn.RReLU(0.1, 0.5)))),
    (
        "PReLU",
        Case("shared", [[6]], {}, lambda t: with_state(nn.PReLU(), **t), {"weight": np.array([0.3], np.float32)}),
    ),
    (
        "PReLU",
        Case(
            "per_channel",
            [[4, 5]],
            {"num_parameters": 4},
            lambda t: with_state(nn.PReLU(4), **t),
            {"weight": rand(4)},
            fmt="json",
        ),
    ),
    ("Threshold", Case("value", [[6]], {"threshold": 0.1, "value": 20.0}, no_state(nn.Threshold(0.1, 20.0)))),
    ("Hardtanh", Case("default", [[6]], {}, no_state(nn.Hardtanh()), scale=2.0)),
    ("Hardtanh", Case("bounds", [[6]], {"min_val": -2.0, "max_val": 0.5}, no_state(nn.Hardtanh(-2.0, 0.5)), scale=3.0)),
    ("Hardsigmoid", Case("plain", [[6]], {}, no_state(nn.Hardsigmoid()), scale=4.0)),
    ("Hardswish", Case("plain", [[6]], {}, no_state(nn.Hardswish()), scale=4.0)),
    ("Hardshrink", Case("default", [[6]], {}, no_state(nn.Hardshrink()))),
    ("Hardshrink", Case("lambd", [[6]], {"lambd": 1.0}, no_state(nn.Hardshrink(1.0)))),
    ("Softshrink", Case("default", [[6]], {}, no_state(nn.Softshrink()))),
    ("Softshrink", Case("lambd", [[6]], {"lambd": 0.2}, no_state(nn.Softshrink(0.2)), fmt="json")),
    ("Tanhshrink", Case("plain", [[6]], {}, no_state(nn.Tanhshrink()))),
    ("LogSigmoid", Case("plain", [[6]], {}, no_state(nn.LogSigmoid()))),
    ("Softsign", Case("plain", [[6]], {}, no_state(nn.Softsign()))),
    ("Mish", Case("plain", [[6]], {}, no_state(nn.Mish()))),
    ("SELU", Case("plain", [[6]], {}, no_state(nn.SELU()))),
    ("CELU", Case("default", [[6]], {}, no_state(nn.CELU()))),
    ("CELU", Case("alpha", [[6]], {"alpha": 0.5}, no_state(nn.CELU(0.5)))),
    ("Softmin", Case("dim_1", [[3, 4]], {"dim": 1}, no_state(nn.Softmin(dim=1)))),
    ("GLU", Case("last_dim", [[3, 4]], {}, no_state(nn.GLU()))),
    ("GLU", Case("dim_1", [[4, 3]], {"dim": 1}, no_state(nn.GLU(dim=1)))),
    (
        "Conv1d",
        Case(
            "default",
            [[3, 10]],
            {"out_channels": 4, "kernel_size": 3},
            lambda t: with_state(nn.Conv1d(3, 4, 3), **t),
            {"weight": CONV1_W, "bias": CONV1_B},
        ),
    ),
    (
        "Conv1d",
        Case(
            "grouped_strided_dilated",
            [[3, 11]],
            {
                "in_channels": 3,
                "out_channels": 6,
                "kernel_size": [3],
                "stride": 2,
                "padding": 2,
                "dilation": 2,
                "groups": 3,
                "bias": False,
            },
            lambda t: with_state(nn.Conv1d(3, 6, 3, stride=2, padding=2, dilation=2, groups=3, bias=False), **t),
            {"weight": CONV1_GROUPED_W},
        ),
    ),
    (
        "Conv1d",
        Case(
            "same_reflect",
            [[3, 8]],
            {"out_channels": 4, "kernel_size": 3, "padding": "same", "padding_mode": "reflect"},
            lambda t: with_state(nn.Conv1d(3, 4, 3, padding="same", padding_mode="reflect"), **t),
            {"weight": CONV1_W, "bias": CONV1_B},
            fmt="json",
        ),
    ),
    (
        "Conv2d",
        Case(
            "rectangular_kernel",
            [[2, 6, 5]],
            {"out_channels": 4, "kernel_size": [3, 2], "stride": [2, 1], "padding": 1, "bias": False},
            lambda t: with_state(nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=1, bias=False), **t),
            {"weight": CONV2_W},
        ),
    ),
    (
        "Conv2d",
        Case(
            "depthwise_same_circular",
            [[2, 5, 6]],
            {
                "out_channels": 4,
                "kernel_size": 3,
                "groups": 2,
                "padding": "same",
                "dilation": 2,
                "padding_mode": "circular",
            },
            lambda t: with_state(
                nn.Conv2d(2, 4, 3, groups=2, padding="same", dilation=2, padding_mode="circular"), **t
            ),
            {"weight": CONV2_GROUPED_W, "bias": CONV2_GROUPED_B},
        ),
    ),
    (
        "Conv2d",
        Case(
            "valid_replicate",
            [[2, 5, 4]],
            {"out_channels": 4, "kernel_size": [3, 2], "padding": [1, 0], "padding_mode": "replicate", "bias": False},
            lambda t: with_state(nn.Conv2d(2, 4, (3, 2), padding=(1, 0), padding_mode="replicate", bias=False), **t),
            {"weight": CONV2_W},
        ),
    ),
    ("MaxPool1d", Case("kernel", [[3, 8]], {"kernel_size": 2}, no_state(nn.MaxPool1d(2)))),
    (
        "MaxPool1d",
        Case(
            "strided_dilated_ceil",
            [[3, 10]],
            {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True},
            no_state(nn.MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True)),
        ),
    ),
    ("MaxPool2d", Case("kernel", [[2, 6, 4]], {"kernel_size": 2}, no_state(nn.MaxPool2d(2)))),
    (
        "MaxPool2d",
        Case(
            "rectangular_ceil",
            [[2, 7, 5]],
            {"kernel_size": [3, 2], "stride": 2, "padding": [1, 0], "ceil_mode": True},
            no_state(nn.MaxPool2d((3, 2), stride=2, padding=(1, 0), ceil_mode=True)),
            fmt="json",
        ),
    ),
    ("AvgPool1d", Case("kernel", [[3, 8]], {"kernel_size": 2}, no_state(nn.AvgPool1d(2)))),
    (
        "AvgPool1d",
        Case(
            "padded_without_pads_ceil",
            [[3, 10]],
            {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False, "ceil_mode": True},
            no_state(nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)),
        ),
    ),
    ("AvgPool2d", Case("kernel", [[2, 6, 4]], {"kernel_size": 2}, no_state(nn.AvgPool2d(2)))),
    (
        "AvgPool2d",
        Case(
            "padded_divisor",
            [[2, 5, 5]],
            {"kernel_size": 3, "stride": [1, 2], "padding": 1, "divisor_override": 5},
            no_state(nn.AvgPool2d(3, stride=(1, 2), padding=1, divisor_override=5)),
        ),
    ),
    ("AdaptiveAvgPool1d", Case("uneven", [[2, 10]], {"output_size": 4}, no_state(nn.AdaptiveAvgPool1d(4)))),
    ("AdaptiveAvgPool2d", Case("global", [[3, 5, 4]], {"output_size": 1}, no_state(nn.AdaptiveAvgPool2d(1)))),
    (
        "AdaptiveAvgPool2d",
        Case("keep_width", [[2, 7, 5]], {"output_size": [3, None]}, no_state(nn.AdaptiveAvgPool2d((3, None)))),
    ),
    (
        "GroupNorm",
        Case(
            "affine",
            [[4, 5]],
            {"num_groups": 2},
            lambda t: with_state(nn.GroupNorm(2, 4), **t),
            {"weight": GN_W, "bias": GN_B},
        ),
    ),
    (
        "GroupNorm",
        Case(
            "no_affine_images",
            [[6, 3, 3]],
            {"num_groups": 3, "num_channels": 6, "eps": 1e-3, "affine": False},
            no_state(nn.GroupNorm(3, 6, eps=1e-3, affine=False)),
        ),
    ),
    ("InstanceNorm1d", Case("default", [[3, 5]], {}, no_state(nn.InstanceNorm1d(3)))),
    (
        "InstanceNorm1d",
        Case(
            "affine",
            [[3, 5]],
            {"num_features": 3, "affine": True},
            lambda t: with_state(nn.InstanceNorm1d(3, affine=True), **t),
            {"weight": IN_STATS["weight"], "bias": IN_STATS["bias"]},
        ),
    ),
    (
        "InstanceNorm1d",
        Case(
            "running_stats",
            [[3, 1]],
            {"affine": True, "track_running_stats": True, "eps": 1e-3},
            lambda t: with_state(nn.InstanceNorm1d(3, eps=1e-3, affine=True, track_running_stats=True), **t),
            IN_STATS,
            fmt="json",
        ),
    ),
    (
        "Embedding",
        Case(
            "lookup",
            [[4]],
            {"num_embeddings": 10, "embedding_dim": 3},
            lambda t: with_state(nn.Embedding(10, 3), **t),
            {"weight": EMB_W},
            indices=10,
        ),
    ),
    (
        "Embedding",
        Case(
            "padding_idx_2d",
            [[2, 3]],
            {"num_embeddings": 10, "embedding_dim": 3, "padding_idx": -1},
            lambda t: with_state(nn.Embedding(10, 3, padding_idx=-1), **t),
            {"weight": EMB_W},
            indices=10,
        ),
    ),
    ("Add", Case("residual", [[3, 4], [3, 4]], {}, function(torch.add))),
    ("Add", Case("three_broadcast", [[3, 4], [1, 4], [3, 1]], {}, function(_sum), fmt="json")),
    ("Multiply", Case("gate", [[5], [5]], {}, function(torch.mul))),
    ("Multiply", Case("three_broadcast", [[2, 3], [2, 1], [1, 3]], {}, function(_product))),
    ("Concat", Case("last_dim", [[3, 2], [3, 4]], {}, function(lambda a, b: torch.cat([a, b], dim=-1)))),
    (
        "Concat",
        Case("dim_1_three", [[2, 3], [1, 3], [4, 3]], {"dim": 1}, function(lambda *xs: torch.cat(xs, dim=1))),
    ),
]


def input_names(case: Case) -> list[str]:
    return ["x"] if len(case.shapes) == 1 else [f"x{i + 1}" for i in range(len(case.shapes))]


def document_for(layer_type: str, case: Case, dtype: str = "float32") -> dict:
    names = input_names(case)
    layer = {"name": "layer", "type": layer_type, **case.params, **{k: v.tolist() for k, v in case.tensors.items()}}
    if len(names) > 1:
        layer["inputs"] = names
    index_dtype = {"dtype": "int64"} if case.indices else {}
    return {
        "dtype": dtype,
        "inputs": [{"name": n, "shape": s, **index_dtype} for n, s in zip(names, case.shapes)],
        "layers": [layer],
    }


def batch(case: Case, size: int, dtype=torch.float32) -> list[torch.Tensor]:
    if case.indices:
        return [torch.randint(case.indices, (size, *shape)) for shape in case.shapes]
    return [torch.randn(size, *shape, dtype=dtype) * case.scale for shape in case.shapes]


def test_every_layer_type_has_a_case():
    assert {layer_type for layer_type, _ in CASES} == set(LAYER_TYPES)


@pytest.mark.parametrize(("layer_type", "case"), CASES, ids=[f"{t}-{c.id}" for t, c in CASES])
def test_layer_matches_torch(tmp_path, layer_type, case):
    stack = load(tmp_path / "model", document_for(layer_type, case), case.fmt)
    reference = case.reference(case.tensors)
    for size in (1, 7):
        inputs = batch(case, size)
        (out,) = stack(*inputs)
        expected = reference(*inputs)
        assert out.dtype == torch.float32
        assert out.shape == expected.shape == (size, *stack.built[0].output_shape)
        assert torch.allclose(out, expected, rtol=1e-5, atol=1e-6), (out, expected)


@pytest.mark.parametrize(("layer_type", "case"), CASES, ids=[f"{t}-{c.id}" for t, c in CASES])
def test_built_layer_is_frozen_in_eval_mode(tmp_path, layer_type, case):
    stack = load(tmp_path / "model", document_for(layer_type, case), case.fmt)
    assert all(not module.training for module in stack.modules())
    assert all(not p.requires_grad for p in stack.parameters())
    assert all(t.device.type == "cpu" for t in stack.state_dict().values())  # no meta placeholder left
    assert [name for name, _ in stack.layers[0].named_parameters()] == [
        n for n in ("weight", "bias") if n in case.tensors
    ]


def test_dense_is_x_times_w_plus_b(tmp_path):
    (case,) = [c for t, c in CASES if t == "Dense" and c.id == "inputs_by_neurons"]
    stack = load(tmp_path / "model", document_for("Dense", case))
    x = torch.randn(7, 4)
    (out,) = stack(x)
    assert torch.allclose(out, x @ torch.from_numpy(DENSE_W) + torch.from_numpy(DENSE_B), atol=1e-6)
    assert tuple(stack.layers[0].weight.shape) == (4, 3)


def test_dropout_in_eval_is_the_identity(tmp_path):
    stack = load(
        tmp_path / "model",
        {"inputs": [{"name": "x", "shape": [50]}], "layers": [{"name": "d", "type": "Dropout", "p": 0.9}]},
    )
    x = torch.randn(7, 50)
    assert torch.equal(stack(x)[0], x)


# --- inferred hyper-parameters -------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer_type", "shapes", "params", "inferred"),
    [
        ("Linear", [[2, 5]], {"out_features": 3}, {"in_features": 5}),
        ("Dense", [[5]], {"out_features": 3}, {"in_features": 5}),
        ("Bilinear", [[5], [4]], {"out_features": 3}, {"in1_features": 5, "in2_features": 4}),
        ("BatchNorm1d", [[6]], {}, {"num_features": 6}),
        ("BatchNorm1d", [[6, 9]], {}, {"num_features": 6}),
        ("LayerNorm", [[3, 7]], {}, {"normalized_shape": [7]}),
        ("RMSNorm", [[3, 7]], {}, {"normalized_shape": [7]}),
        ("Conv1d", [[3, 7]], {"out_channels": 2, "kernel_size": 3}, {"in_channels": 3}),
        ("Conv2d", [[3, 5, 5]], {"out_channels": 2, "kernel_size": 3}, {"in_channels": 3}),
        ("GroupNorm", [[6, 4]], {"num_groups": 3}, {"num_channels": 6}),
        ("InstanceNorm1d", [[6, 4]], {}, {"num_features": 6}),
    ],
)
def test_omitted_sizes_are_inferred_from_the_input_shape(tmp_path, layer_type, shapes, params, inferred):
    names = ["x"] if len(shapes) == 1 else ["x1", "x2"]
    layer = {"name": "layer", "type": layer_type, **params}
    if len(names) > 1:
        layer["inputs"] = names
    document = {
        "inputs": [{"name": n, "shape": s} for n, s in zip(names, shapes)],
        "layers": [layer],
        "init": {"seed": 3},
    }
    definition, stack = load_stack(write_definition(tmp_path / "model", document))
    assert definition.layers[0].params.items() >= {k: None for k in inferred}.items()  # as declared
    assert stack.built[0].params.items() >= inferred.items()
    module = stack.layers[0]
    for key, value in inferred.items():
        actual = getattr(module, key)
        assert (list(actual) if isinstance(actual, tuple) else actual) == value
    (out,) = stack(*(torch.randn(2, *s) for s in shapes))
    assert out.shape[1:] == stack.built[0].output_shape


def test_built_layers_record_sources_and_shapes(tmp_path):
    document = {
        "inputs": [{"name": "a", "shape": [5]}, {"name": "b", "shape": [4]}],
        "init": {"seed": 0},
        "layers": [
            {"name": "fc", "type": "Linear", "inputs": ["a"], "out_features": 4},
            {"name": "act", "type": "ReLU"},
            {"name": "bil", "type": "Bilinear", "inputs": ["act", "b"], "out_features": 2},
            {"name": "unflat", "type": "Unflatten", "dim": 1, "unflattened_size": [1, -1]},
        ],
    }
    stack = load(tmp_path / "model", document)
    assert [(b.name, b.sources, b.input_shapes, b.output_shape) for b in stack.built] == [
        ("fc", ("a",), ((5,),), (4,)),
        ("act", ("fc",), ((4,),), (4,)),
        ("bil", ("act", "b"), ((4,), (4,)), (2,)),
        ("unflat", ("bil",), ((2,),), (1, 2)),
    ]
    (out,) = stack(torch.randn(3, 5), torch.randn(3, 4))
    assert out.shape == (3, 1, 2)


# --- dtype -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("layer_type", "case"), CASES, ids=[f"{t}-{c.id}" for t, c in CASES])
def test_float64_model_computes_in_float64(tmp_path, layer_type, case):
    tensors = {k: v.astype(np.float64) for k, v in case.tensors.items()}
    document = document_for(layer_type, case, dtype="float64")
    stack = load(tmp_path / "model", document, case.fmt)
    assert all(t.dtype == torch.float64 for t in stack.state_dict().values() if t.is_floating_point())
    reference = case.reference(tensors).double()
    inputs = batch(case, 7, dtype=torch.float64)
    (out,) = stack(*inputs)
    assert out.dtype == torch.float64
    assert torch.allclose(out, reference(*inputs), rtol=1e-12, atol=1e-12)


def test_float64_inline_values_keep_full_precision(tmp_path):
    document = {
        "dtype": "float64",
        "inputs": [{"name": "x", "shape": [1]}],
        "layers": [{"name": "fc", "type": "Linear", "out_features": 1, "weight": [[0.1]], "bias": [0.2]}],
    }
    stack = load(tmp_path / "model", document)
    assert stack.layers[0].weight.item() == 0.1
    assert stack(torch.tensor([[1.0]], dtype=torch.float64))[0].item() == 0.1 + 0.2


# --- outputs ---------------------------------------------------------------------------------

CHAIN = {
    "inputs": [{"name": "x", "shape": [3]}],
    "layers": [
        {"name": "fc1", "type": "Linear", "out_features": 2, "weight": [[1, -1, 0], [0, 1, 1]], "bias": [0, -1]},
        {"name": "act", "type": "ReLU"},
        {"name": "fc2", "type": "Linear", "out_features": 1, "weight": [[2, 3]], "bias": [0.5]},
    ],
}
X = torch.tensor([[1.0, 2.0, 3.0], [3.0, 1.0, -4.0]])
FC1 = [[-1.0, 4.0], [2.0, -4.0]]
ACT = [[0.0, 4.0], [2.0, 0.0]]
FC2 = [[12.5], [4.5]]


def test_without_outputs_the_last_layer_is_returned(tmp_path):
    stack = load(tmp_path / "model", CHAIN)
    assert [t.tolist() for t in stack(X)] == [FC2]


def test_outputs_may_name_an_intermediate_layer(tmp_path):
    stack = load(tmp_path / "model", {**CHAIN, "outputs": ["act"]})
    assert [t.tolist() for t in stack(X)] == [ACT]


def test_several_outputs_come_back_in_declared_order(tmp_path):
    stack = load(tmp_path / "model", {**CHAIN, "outputs": ["fc2", "fc1", "act"]})
    out = stack(X)
    assert isinstance(out, tuple)
    assert [t.tolist() for t in out] == [FC2, FC1, ACT]


def test_yaml_yml_and_json_definitions_build_the_same_model(tmp_path):
    outputs = [load(tmp_path / fmt / "model", CHAIN, fmt)(X)[0].tolist() for fmt in ("yaml", "yml", "json")]
    assert outputs == [FC2, FC2, FC2]


# --- seeded initialization -------------------------------------------------------------------


def seeded(seed: int, in_features: int | None = 6) -> dict:
    sizes = {"in_features": in_features} if in_features else {}
    return {
        "inputs": [{"name": "x", "shape": [6]}, {"name": "y", "shape": [3]}],
        "init": {"seed": seed},
        "layers": [
            {"name": "fc", "type": "Linear", "inputs": ["x"], "out_features": 4, **sizes},
            {"name": "fc_twin", "type": "Linear", "inputs": ["x"], "out_features": 4, **sizes},
            {"name": "dense", "type": "Dense", "out_features": 5},
            {"name": "bil", "type": "Bilinear", "inputs": ["dense", "y"], "out_features": 2},
            {"name": "bn", "type": "BatchNorm1d"},
            {"name": "ln", "type": "LayerNorm"},
            {"name": "rms", "type": "RMSNorm"},
        ],
    }


def state(stack) -> dict[str, torch.Tensor]:
    return {k: v for k, v in stack.state_dict().items() if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize("in_features", [6, None], ids=["declared", "inferred"])
def test_seeded_init_is_deterministic_and_depends_on_the_seed(tmp_path, in_features):
    first = state(load(tmp_path / "a" / "model", seeded(7, in_features)))
    again = state(load(tmp_path / "b" / "model", seeded(7, in_features)))
    other = state(load(tmp_path / "c" / "model", seeded(8, in_features)))
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    drawn = [k for k in first if k.split(".")[1] in ("0", "1", "2", "3")]  # the layers with a fan-in
    assert len(drawn) == 8
    assert all(not torch.equal(first[k], other[k]) for k in drawn)
    assert not torch.equal(first["layers.0.weight"], first["layers.1.weight"])  # a stream per layer


@pytest.mark.parametrize("in_features", [6, None], ids=["declared", "inferred"])
def test_seeded_init_follows_torch_defaults(tmp_path, in_features):
    stack = load(tmp_path / "model", seeded(0, in_features))
    fc, _, dense, bil, bn, ln, rms = stack.layers
    for module, fan_in in ((fc, 6), (dense, 4), (bil, 5)):
        for tensor in (module.weight, module.bias):
            bound = 1 / math.sqrt(fan_in)
            assert tensor.abs().max() <= bound
            assert tensor.abs().max() > bound / 2  # uniform over the whole bound, not constant
            assert tensor.unique().numel() == tensor.numel()
    assert torch.equal(bn.weight, torch.ones(2)) and torch.equal(bn.bias, torch.zeros(2))
    assert torch.equal(bn.running_mean, torch.zeros(2)) and torch.equal(bn.running_var, torch.ones(2))
    assert torch.equal(ln.weight, torch.ones(2)) and torch.equal(ln.bias, torch.zeros(2))
    assert torch.equal(rms.weight, torch.ones(2))


def test_seed_fills_only_what_is_not_given(tmp_path):
    document = {
        "inputs": [{"name": "x", "shape": [2]}],
        "init": {"seed": 1},
        "layers": [{"name": "fc", "type": "Linear", "out_features": 2, "weight": [[1, 2], [3, 4]]}],
    }
    fc = load(tmp_path / "model", document).layers[0]
    assert fc.weight.tolist() == [[1, 2], [3, 4]]
    assert fc.bias.abs().max() <= 1 / math.sqrt(2) and fc.bias.abs().max() > 0


# --- weights files ---------------------------------------------------------------------------


def file_document(weights: str = "weights.safetensors", dtype: str = "float32") -> dict:
    return {
        "dtype": dtype,
        "inputs": [{"name": "x", "shape": [5]}],
        "weights": weights,
        "layers": [
            {"name": "fc", "type": "Linear", "in_features": 5, "out_features": 4},
            {"name": "bn", "type": "BatchNorm1d", "num_features": 4},
            {"name": "act", "type": "Tanh"},
            {"name": "out", "type": "Dense", "out_features": 2, "bias": [0.25, -0.25]},
        ],
    }


def file_tensors(dtype=np.float32) -> dict[str, np.ndarray]:
    tensors = {
        "fc.weight": rand(4, 5),
        "fc.bias": rand(4),
        "bn.weight": rand(4),
        "bn.bias": rand(4),
        "bn.running_mean": rand(4),
        "bn.running_var": np.abs(rand(4)) + 0.5,
        "out.weight": rand(4, 2),
    }
    return {k: v.astype(dtype) for k, v in tensors.items()}


def file_reference(tensors: dict) -> nn.Module:
    def part(prefix):
        return {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

    dense = with_state(nn.Linear(4, 2), weight=tensors["out.weight"].T, bias=np.array([0.25, -0.25]))
    return nn.Sequential(
        with_state(nn.Linear(5, 4), **part("fc")), with_state(nn.BatchNorm1d(4), **part("bn")), nn.Tanh(), dense
    ).eval()


@pytest.mark.parametrize("path", ["weights.safetensors", "sub/dir/w.safetensors", "./sub/../w.safetensors"])
def test_weights_file_by_layer_and_tensor_name(tmp_path, path):
    folder = write_definition(tmp_path / "model", file_document(path))
    tensors = file_tensors()
    (folder / path).parent.mkdir(parents=True, exist_ok=True)
    safetensors.numpy.save_file({**tensors, "bn.num_batches_tracked": np.array(123, dtype=np.int64)}, folder / path)
    _, stack = load_stack(folder)
    x = torch.randn(7, 5)
    assert torch.allclose(stack(x)[0], file_reference(tensors)(x), rtol=1e-5, atol=1e-6)
    assert torch.equal(stack.layers[1].running_var, torch.from_numpy(tensors["bn.running_var"]))
    assert stack.layers[1].num_batches_tracked.item() == 0  # training-only: accepted, not loaded


def test_weights_file_for_a_float64_model(tmp_path):
    folder = write_definition(tmp_path / "model", file_document(dtype="float64"))
    tensors = file_tensors(np.float64)
    safetensors.numpy.save_file(tensors, folder / "weights.safetensors")
    _, stack = load_stack(folder)
    x = torch.randn(7, 5, dtype=torch.float64)
    (out,) = stack(x)
    assert out.dtype == torch.float64
    assert torch.allclose(out, file_reference(tensors).double()(x), rtol=1e-12, atol=1e-12)


def test_weights_file_written_by_torch_state_dict(tmp_path):
    """A torch state dict saved as safetensors, with its int64 num_batches_tracked, loads as is."""
    reference = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    reference.train()(torch.randn(16, 3))  # moves running stats and num_batches_tracked
    reference.eval()
    names = {"0": "fc", "1": "bn"}
    state_dict = {
        f"{names[k.split('.')[0]]}.{k.split('.', 1)[1]}": v.numpy() for k, v in reference.state_dict().items()
    }
    assert state_dict["bn.num_batches_tracked"].dtype == np.int64
    document = {
        "inputs": [{"name": "x", "shape": [3]}],
        "weights": "weights.safetensors",
        "layers": [{"name": "fc", "type": "Linear", "out_features": 4}, {"name": "bn", "type": "BatchNorm1d"}],
    }
    folder = write_definition(tmp_path / "model", document)
    safetensors.numpy.save_file(state_dict, folder / "weights.safetensors")
    _, stack = load_stack(folder)
    x = torch.randn(7, 3)
    with torch.no_grad():
        assert torch.allclose(stack(x)[0], reference(x), rtol=1e-5, atol=1e-6)


def test_yaml_exponents_without_a_dot_are_numbers(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.yaml").write_text(
        "inputs: [{name: x, shape: [2]}]\n"
        "layers:\n"
        "  - {name: fc, type: Linear, out_features: 1, weight: [[1e-6, 2E+1]], bias: [-5e0]}\n"
        "  - {name: norm, type: LayerNorm, eps: 1e-6, weight: [1.0], bias: [0.0]}\n"
    )
    _, stack = load_stack(folder)
    assert stack.layers[0].weight.tolist() == [[pytest.approx(1e-6), 20.0]]
    assert stack.built[1].params["eps"] == 1e-6


# --- more of torch.nn: seeds, weights files, multiply-adds ------------------------------------------


def test_seeded_init_of_convolutions_prelu_embeddings_and_norms(tmp_path):
    document = {
        "inputs": [{"name": "x", "shape": [4, 6, 6]}, {"name": "ids", "shape": [50], "dtype": "int64"}],
        "init": {"seed": 5},
        "layers": [
            {"name": "conv", "type": "Conv2d", "inputs": ["x"], "out_channels": 4, "kernel_size": [3, 2], "groups": 2},
            {"name": "gn", "type": "GroupNorm", "num_groups": 2},
            {"name": "act", "type": "PReLU", "num_parameters": 4, "init": 0.1},
            {"name": "flat", "type": "Flatten", "start_dim": 2},
            {"name": "norm", "type": "InstanceNorm1d", "affine": True, "track_running_stats": True},
            {
                "name": "emb",
                "type": "Embedding",
                "inputs": ["ids"],
                "num_embeddings": 100,
                "embedding_dim": 20,
                "padding_idx": 3,
            },
        ],
        "outputs": ["norm", "emb"],
    }
    stack = load(tmp_path / "model", document)
    conv, gn, act, _, norm, emb = stack.layers
    bound = 1 / math.sqrt(4 // 2 * 3 * 2)  # in_channels / groups × kernel size
    for tensor in (conv.weight, conv.bias):
        assert bound / 2 < tensor.abs().max() <= bound
    assert torch.equal(gn.weight, torch.ones(4)) and torch.equal(gn.bias, torch.zeros(4))
    assert torch.equal(act.weight, torch.full((4,), 0.1))
    assert torch.equal(norm.running_mean, torch.zeros(4)) and torch.equal(norm.running_var, torch.ones(4))
    assert torch.equal(emb.weight[3], torch.zeros(20))  # the padding row, as torch leaves it
    drawn = torch.cat([emb.weight[:3], emb.weight[4:]]).double()
    assert abs(drawn.mean()) < 0.1 and 0.9 < drawn.std() < 1.1  # N(0, 1)
    again = load(tmp_path / "again" / "model", document)
    assert all(torch.equal(a, b) for a, b in zip(state(stack).values(), state(again).values()))


def test_new_layer_tensors_load_from_a_weights_file(tmp_path):
    document = {
        "inputs": [{"name": "x", "shape": [2, 9]}, {"name": "ids", "shape": [9], "dtype": "int32"}],
        "weights": "weights.safetensors",
        "layers": [
            {"name": "emb", "type": "Embedding", "inputs": ["ids"], "num_embeddings": 7, "embedding_dim": 2},
            {"name": "conv", "type": "Conv1d", "inputs": ["x"], "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"name": "gn", "type": "GroupNorm", "num_groups": 2},
            {"name": "act", "type": "PReLU", "num_parameters": 4},
            {"name": "norm", "type": "InstanceNorm1d", "affine": True, "track_running_stats": True},
        ],
        "outputs": ["emb", "norm"],
    }
    tensors = {
        "emb.weight": rand(7, 2),
        "conv.weight": rand(4, 2, 3),
        "conv.bias": rand(4),
        "gn.weight": rand(4),
        "gn.bias": rand(4),
        "act.weight": rand(4),
        "norm.weight": rand(4),
        "norm.bias": rand(4),
        "norm.running_mean": rand(4),
        "norm.running_var": np.abs(rand(4)) + 0.5,
        "norm.num_batches_tracked": np.array(9, np.int64),
    }
    folder = write_definition(tmp_path / "model", document)
    safetensors.numpy.save_file(tensors, folder / "weights.safetensors")
    _, stack = load_stack(folder)

    def part(prefix):
        return {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

    reference = nn.Sequential(
        with_state(nn.Conv1d(2, 4, 3, padding=1), **part("conv")),
        with_state(nn.GroupNorm(2, 4), **part("gn")),
        with_state(nn.PReLU(4), **part("act")),
        with_state(nn.InstanceNorm1d(4, affine=True, track_running_stats=True), **part("norm")),
    ).eval()
    embedding = with_state(nn.Embedding(7, 2), **part("emb"))
    x, ids = torch.randn(5, 2, 9), torch.randint(7, (5, 9), dtype=torch.int32)
    emb, out = stack(x, ids)
    assert torch.allclose(out, reference(x), rtol=1e-5, atol=1e-6)
    assert torch.equal(emb, embedding(ids))


@pytest.mark.parametrize(
    ("layer_type", "shape", "params", "macs"),
    [
        # out elements × in_channels / groups × kernel size
        ("Conv1d", [3, 10], {"out_channels": 4, "kernel_size": 3}, (4 * 8) * 3 * 3),
        ("Conv1d", [4, 10], {"out_channels": 6, "kernel_size": 3, "groups": 2, "padding": "same"}, (6 * 10) * 2 * 3),
        ("Conv2d", [2, 6, 5], {"out_channels": 4, "kernel_size": [3, 2], "stride": 2}, (4 * 2 * 2) * 2 * 6),
        ("Conv2d", [2, 5, 5], {"out_channels": 2, "kernel_size": 3, "bias": False}, (2 * 3 * 3) * 2 * 9),
        # one multiply-add per window value; MaxPool compares only
        ("AvgPool1d", [3, 8], {"kernel_size": 2}, (3 * 4) * 2),
        ("AvgPool2d", [2, 6, 4], {"kernel_size": 2}, (2 * 3 * 2) * 4),
        ("MaxPool2d", [2, 6, 4], {"kernel_size": 2}, 0),
        # windows of 10 values into 4: [0, 3), [2, 5), [5, 8), [7, 10): 3 values each
        ("AdaptiveAvgPool1d", [2, 10], {"output_size": 4}, 2 * 4 * 3),
        # 7 rows into 3: [0, 3), [2, 5), [4, 7): 9 values; 5 columns kept: 5 windows of 1
        ("AdaptiveAvgPool2d", [2, 7, 5], {"output_size": [3, None]}, 2 * 9 * 5),
        ("AdaptiveAvgPool2d", [3, 5, 4], {"output_size": 1}, 3 * 20),
        ("GroupNorm", [4, 5], {"num_groups": 2}, 20),
        ("InstanceNorm1d", [3, 5], {}, 15),
        ("PReLU", [6], {}, 0),
        ("Hardtanh", [6], {}, 0),
    ],
)
def test_multiply_adds_per_sample(tmp_path, layer_type, shape, params, macs):
    document = {
        "inputs": [{"name": "x", "shape": shape}],
        "init": {"seed": 0},
        "layers": [{"name": "layer", "type": layer_type, **params}],
    }
    built = load(tmp_path / "model", document).built[0]
    assert built.definition.type.macs(built.params, list(built.input_shapes), built.output_shape) == macs


@pytest.mark.parametrize(
    ("layer_type", "shapes", "macs"),
    [("Add", [[3, 4], [3, 4]], 0), ("Multiply", [[3, 4], [1, 4], [3, 1]], 2 * 12), ("Concat", [[3, 2], [3, 4]], 0)],
)
def test_multiply_adds_of_combinators(tmp_path, layer_type, shapes, macs):
    names = [f"x{i}" for i in range(len(shapes))]
    document = {
        "inputs": [{"name": n, "shape": s} for n, s in zip(names, shapes)],
        "layers": [{"name": "layer", "type": layer_type, "inputs": names}],
    }
    built = load(tmp_path / "model", document).built[0]
    assert built.definition.type.macs(built.params, list(built.input_shapes), built.output_shape) == macs
