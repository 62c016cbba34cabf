"""Differential property test: random layer stacks served by layerserve answer as torch.nn does.

Hypothesis draws a definition (layer types, hyper-parameters, shapes, dtype, skip connections
through Add, Multiply and Concat) with its weights either inline or drawn from a seed, and a
batch. The same stack is built here with plain
torch.nn modules from the same weights: the inline values as written, the seeded ones as the
server reports them (GET .../layers/<layer>?values=true). The declared stack from load_stack,
its serving path (with torch and with numpy), and the served infer answer must all agree with it.
"""

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from service.stack import load_stack
from service.stack.numpy_path import NumpyPath
from service.stack.optimize import optimize

from .helpers import app_over, infer_body

MAX_FEATURES = 6
DATATYPES = {"float32": "FP32", "float64": "FP64"}
NUMPY_DTYPES = {"float32": np.float32, "float64": np.float64}
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# The serving path folds and merges layers in float64 before storing them in the model dtype;
# a LayerNorm after it can magnify the last-bit differences by up to 1/sqrt(eps).
SERVED_TOLERANCE = {"float32": 2e-3, "float64": 1e-9}
DECLARED_TOLERANCE = {"float32": 1e-5, "float64": 1e-12}

ACTIVATIONS = ["ReLU", "Sigmoid", "Tanh", "SiLU", "Identity", "ReLU6", "SELU", "Mish", "Softsign"]
ACTIVATIONS += ["Hardsigmoid", "Hardswish", "LogSigmoid", "Tanhshrink"]
TENSOR_LAYERS = {"Linear", "Dense", "LayerNorm", "RMSNorm", "BatchNorm1d", "GroupNorm", "PReLU"}
# With plain torch operations in the reference: a fused layer read by a later combinator shows.
COMBINATORS = {"Add": torch.add, "Multiply": torch.mul, "Concat": lambda a, b: torch.cat([a, b], dim=-1)}


def values(shape, dtype, low=-2.0, high=2.0):
    """Nested lists of finite numbers exact in the model's dtype."""
    width = 32 if dtype == "float32" else 64
    number = st.floats(low, high, allow_nan=False, width=width)
    strategy = number
    for size in reversed(shape):
        strategy = st.lists(strategy, min_size=size, max_size=size)
    return strategy


@st.composite
def inline_tensors(draw, layer_type, params, shape, dtype):
    """The tensors a tensor layer needs, by state-dict name, as nested lists."""
    if layer_type in ("Linear", "Dense"):
        n_in, n_out = shape[-1], params["out_features"]
        tensors = {"weight": draw(values([n_out, n_in] if layer_type == "Linear" else [n_in, n_out], dtype))}
        if params.get("bias", True):
            tensors["bias"] = draw(values([n_out], dtype))
        return tensors
    if layer_type == "BatchNorm1d":
        channels = shape[0]
        tensors = {
            "running_mean": draw(values([channels], dtype)),
            "running_var": draw(values([channels], dtype, 0.25, 4.0)),
        }
        if params.get("affine", True):
            tensors |= {"weight": draw(values([channels], dtype)), "bias": draw(values([channels], dtype))}
        return tensors
    if layer_type == "PReLU":
        return {"weight": draw(values([params.get("num_parameters", 1)], dtype, 0.0, 0.5))}
    if layer_type == "GroupNorm":
        affine = params.get("affine", True)
        return {"weight": draw(values([shape[0]], dtype)), "bias": draw(values([shape[0]], dtype))} if affine else {}
    tensors = {}
    if params.get("elementwise_affine", True):
        tensors["weight"] = draw(values([shape[-1]], dtype))
        if layer_type == "LayerNorm" and params.get("bias", True):
            tensors["bias"] = draw(values([shape[-1]], dtype))
    return tensors


@st.composite
def next_layer(draw, shape: tuple[int, ...]):
    """(type, hyper-parameters, per-sample output shape) of a layer that can read `shape`."""
    choices = [
        "Linear",
        "Dense",
        "activation",
        "LeakyReLU",
        "GELU",
        "ELU",
        "Softplus",
        "Softmax",
        "LogSoftmax",
        "Softmin",
    ]
    choices += ["Dropout", "LayerNorm", "RMSNorm", "BatchNorm1d", "PReLU"]
    choices += ["GroupNorm"] if math.prod(shape) > 1 else []  # a group needs two values
    choices += ["Flatten"] if len(shape) == 2 else ["Unflatten"] if shape[-1] % 2 == 0 and shape[-1] > 2 else []
    kind = draw(st.sampled_from(choices))
    flag = st.booleans()
    if kind in ("Linear", "Dense"):
        params = {"out_features": draw(st.integers(1, MAX_FEATURES))}
        params |= draw(st.sampled_from([{}, {"bias": False}, {"in_features": shape[-1]}]))
        return kind, params, (*shape[:-1], params["out_features"])
    if kind == "activation":
        return draw(st.sampled_from(ACTIVATIONS)), {}, shape
    if kind == "LeakyReLU":
        return kind, {"negative_slope": draw(st.floats(0.0, 0.5))}, shape
    if kind == "GELU":
        return kind, {"approximate": draw(st.sampled_from(["none", "tanh"]))}, shape
    if kind == "ELU":
        return kind, {"alpha": draw(st.floats(0.1, 2.0))}, shape
    if kind == "Softplus":
        return kind, {"beta": draw(st.floats(0.5, 3.0)), "threshold": draw(st.floats(1.0, 20.0))}, shape
    if kind in ("Softmax", "LogSoftmax", "Softmin"):
        return kind, {"dim": draw(st.sampled_from([-1, *range(1, len(shape) + 1)]))}, shape
    if kind == "Dropout":
        return kind, {"p": draw(st.floats(0.0, 1.0))}, shape
    if kind == "LayerNorm":
        return kind, {"elementwise_affine": draw(flag), "bias": draw(flag)}, shape
    if kind == "RMSNorm":
        return kind, {"elementwise_affine": draw(flag), **draw(st.sampled_from([{}, {"eps": 1e-6}]))}, shape
    if kind == "BatchNorm1d":
        return kind, {"affine": draw(flag), "eps": draw(st.sampled_from([1e-5, 1e-3]))}, shape
    if kind == "GroupNorm":
        per_channel = math.prod(shape[1:])
        groups = draw(
            st.sampled_from(
                [g for g in range(1, shape[0] + 1) if shape[0] % g == 0 and shape[0] // g * per_channel > 1]
            )
        )
        return kind, {"num_groups": groups, "affine": draw(flag)}, shape
    if kind == "PReLU":
        return kind, draw(st.sampled_from([{}, {"num_parameters": shape[0]}])), shape
    if kind == "Flatten":
        return kind, {}, (math.prod(shape),)
    return kind, {"dim": -1, "unflattened_size": [2, -1]}, (*shape[:-1], 2, shape[-1] // 2)


@st.composite
def skip_connection(draw, name: str, previous: str, earlier: list[str], shape: tuple[int, ...]):
    """A combinator reading `previous` and one of `earlier` (all of `shape`), and its output shape."""
    kind = draw(st.sampled_from(sorted(COMBINATORS)))
    layer = {"name": name, "type": kind, "inputs": [previous, draw(st.sampled_from(earlier))]}
    if kind != "Concat":
        return layer, shape
    return layer | {"dim": -1}, (*shape[:-1], 2 * shape[-1])


@st.composite
def models(draw):
    """A definition document (dict) and a batch for its one input."""
    dtype = draw(st.sampled_from(sorted(DATATYPES)))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    seed = draw(st.none() | st.integers(0, 2**63 - 1))
    document = {"dtype": dtype, "inputs": [{"name": "x", "shape": list(shape)}], "layers": []}
    if seed is not None:
        document["init"] = {"seed": seed}
    produced = {"x": shape}  # every value a later layer may read, with its per-sample shape
    previous = "x"
    for index in range(draw(st.integers(1, 6))):
        same_shape = [name for name, other in produced.items() if other == shape and name != previous]
        if same_shape and draw(st.booleans()):  # a skip connection: the previous value and an earlier one
            layer, output_shape = draw(skip_connection(f"l{index}", previous, same_shape, shape))
        else:
            layer_type, params, output_shape = draw(next_layer(shape))
            layer = {"name": f"l{index}", "type": layer_type, **params}
            if layer_type in TENSOR_LAYERS and (seed is None or draw(st.booleans())):
                layer |= draw(inline_tensors(layer_type, params, shape, dtype))
        document["layers"].append(layer)
        previous, shape = layer["name"], output_shape
        produced[previous] = shape
    batch = draw(st.integers(1, 4))
    inputs = draw(values([batch, *document["inputs"][0]["shape"]], dtype, -3.0, 3.0))
    return document, inputs


# --- the same stack, built with torch.nn alone -------------------------------------------------


def reference_module(layer: dict, shape: tuple[int, ...], dtype: torch.dtype) -> nn.Module:
    """The torch.nn module a layer entry stands for, reading `shape` per sample (weights unset)."""
    kind = layer["type"]
    params = {k: v for k, v in layer.items() if k not in ("name", "type", "weight", "running_mean", "running_var")}
    params = {k: v for k, v in params.items() if not isinstance(v, list) or k == "unflattened_size"}
    if kind in ("Linear", "Dense"):
        return nn.Linear(shape[-1], params["out_features"], bias=params.get("bias", True), dtype=dtype)
    if kind == "LayerNorm":
        return nn.LayerNorm(shape[-1], **params, dtype=dtype)
    if kind == "RMSNorm":
        return nn.RMSNorm(shape[-1], **params, dtype=dtype)
    if kind == "BatchNorm1d":
        return nn.BatchNorm1d(shape[0], **params, dtype=dtype)
    if kind == "GroupNorm":
        return nn.GroupNorm(params["num_groups"], shape[0], affine=params["affine"], dtype=dtype)
    if kind == "PReLU":
        return nn.PReLU(params.get("num_parameters", 1), dtype=dtype)
    if kind == "Unflatten":
        return nn.Unflatten(params["dim"], (2, shape[-1] // 2))
    return getattr(nn, kind)(**params)


def load_reference_tensors(module: nn.Module, layer: dict, tensors: dict[str, list], dtype: torch.dtype) -> None:
    for name, value in tensors.items():
        tensor = torch.tensor(value, dtype=dtype)
        if layer["type"] == "Dense" and name == "weight":
            tensor = tensor.T  # Dense keeps (in, out): output = x·W + b, nn.Linear's weight transposed
        target = getattr(module, name)
        assert target is not None, f"{layer['name']}.{name}"
        with torch.no_grad():
            target.copy_(tensor)


class ReferenceGraph:
    """The document's layers as torch.nn modules (and plain torch operations for the combinators),
    wired as written: without `inputs`, a layer reads the one before."""

    def __init__(self, document: dict, tensors: dict[str, dict[str, list]]):
        dtype = TORCH_DTYPES[document["dtype"]]
        self.layers = document["layers"]
        self.steps = []
        shapes = {"x": tuple(document["inputs"][0]["shape"])}
        for layer, sources in zip(self.layers, self._sources()):
            if layer["type"] in COMBINATORS:
                step = COMBINATORS[layer["type"]]
            else:
                step = reference_module(layer, shapes[sources[0]], dtype).eval()
                if layer["type"] in TENSOR_LAYERS:
                    load_reference_tensors(step, layer, tensors[layer["name"]], dtype)
            self.steps.append(step)
            zeros = [torch.zeros(1, *shapes[source], dtype=dtype) for source in sources]
            shapes[layer["name"]] = tuple(step(*zeros).shape[1:])

    def _sources(self):
        previous = "x"
        for layer in self.layers:
            yield layer.get("inputs") or [previous]
            previous = layer["name"]

    def __call__(self, x):
        values = {"x": x}
        for layer, sources, step in zip(self.layers, self._sources(), self.steps):
            values[layer["name"]] = step(*[values[source] for source in sources])
        return values[self.layers[-1]["name"]]


def served_tensors(client, document: dict) -> dict[str, dict[str, list]]:
    """Every tensor layer's parameters and buffers, as the server reports them."""
    found = {}
    for layer in document["layers"]:
        if layer["type"] not in TENSOR_LAYERS:
            continue
        response = client.get(f"/v2/models/m/layers/{layer['name']}?values=true")
        assert response.status_code == 200, response.get_json()
        described = response.get_json()
        found[layer["name"]] = {t["name"]: t["values"] for t in described["parameters"] + described["buffers"]}
    return found


def assert_close(actual: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_a_served_stack_answers_as_the_same_stack_built_with_torch_nn(model):
    document, batch = model
    dtype = document["dtype"]
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root, "m")
        folder.mkdir()
        (folder / "model.json").write_text(json.dumps(document), encoding="utf-8")
        client = app_over(Path(root), REQUEST_LOG=False).test_client()
        _, declared = load_stack(folder)
        weights = served_tensors(client, document)
        response = client.post("/v2/models/m/infer", json=infer_body("x", batch, datatype=DATATYPES[dtype]))

    for layer in document["layers"]:  # inline values come back exactly as written
        for name in layer.keys() & {"weight", "bias", "running_mean", "running_var"}:
            if isinstance(layer[name], list):
                reported = np.asarray(weights[layer["name"]][name], dtype=NUMPY_DTYPES[dtype])
                assert np.array_equal(reported, np.asarray(layer[name], dtype=NUMPY_DTYPES[dtype])), name
    x = torch.tensor(batch, dtype=TORCH_DTYPES[dtype])
    with torch.no_grad():
        expected = ReferenceGraph(document, weights)(x).numpy()
        (from_stack,) = declared(x)
        # the serving path on its own: the server would hide a wrong one by falling back to the stack
        serving_path = optimize(declared) or declared
        (from_serving_path,) = serving_path(x)
    assert_close(from_stack.numpy(), expected, DECLARED_TOLERANCE[dtype])
    assert_close(from_serving_path.numpy(), expected, SERVED_TOLERANCE[dtype])
    numpy_path = NumpyPath.build(serving_path)  # what a worker computing with one thread serves
    if numpy_path is not None:
        (from_numpy_path,) = numpy_path.forward(x.numpy())
        assert from_numpy_path.dtype == NUMPY_DTYPES[dtype]
        assert_close(from_numpy_path, expected, SERVED_TOLERANCE[dtype])

    assert response.status_code == 200, response.get_json()
    (output,) = response.get_json()["outputs"]
    assert output["name"] == document["layers"][-1]["name"]
    assert output["datatype"] == DATATYPES[dtype]
    assert output["shape"] == list(expected.shape)
    served = np.asarray(output["data"], dtype=NUMPY_DTYPES[dtype]).reshape(output["shape"])
    assert_close(served, expected, SERVED_TOLERANCE[dtype])


@pytest.mark.parametrize("layer_type", ["Linear", "Dense"])
def test_the_reference_is_not_trivially_equal(layer_type):
    """The comparison can fail: a weight off by one in the reference is noticed."""
    weight = [[1.0, 2.0], [3.0, 4.0]]
    document = {"dtype": "float32", "inputs": [{"name": "x", "shape": [2]}], "layers": []}
    document["layers"].append({"name": "l0", "type": layer_type, "out_features": 2, "weight": weight, "bias": [0, 0]})
    reference = ReferenceGraph(document, {"l0": {"weight": weight, "bias": [0.0, 0.0]}})
    changed = ReferenceGraph(document, {"l0": {"weight": [[1.0, 2.0], [3.0, 5.0]], "bias": [0.0, 0.0]}})
    x = torch.tensor([[1.0, 1.0]])
    with torch.no_grad():
        with pytest.raises(AssertionError):
            assert_close(changed(x).numpy(), reference(x).numpy(), SERVED_TOLERANCE["float32"])
        expected = [[3.0, 7.0]] if layer_type == "Linear" else [[4.0, 6.0]]
        assert reference(x).tolist() == expected
