"""The numpy serving path: same outputs as the torch stack, chosen only where it may serve."""

import logging

import numpy as np
import pytest
import torch
import yaml

from service.errors import InferenceTimeout
from service.runtime.served import ServedModel
from service.stack import load_stack
from service.stack.deadline import Deadline
from service.stack.numpy_path import NumpyPath

SUPPORTED = ["Linear", "Dense", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "Identity", "Dropout"]


@pytest.fixture
def one_torch_thread():
    """As each server worker runs by default (LAYERSERVE_TORCH_THREADS=1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_folder(tmp_path, layers, dtype="float32", batching=None):
    folder = tmp_path / "model"
    folder.mkdir(parents=True, exist_ok=True)
    definition = {"dtype": dtype, "inputs": [{"name": "x", "shape": [8]}], "init": {"seed": 5}, "layers": layers}
    if batching:
        definition["dynamic_batching"] = batching
    (folder / "model.yaml").write_text(yaml.safe_dump(definition))
    return folder


def random_chain(rng) -> list[dict]:
    layers = []
    for index in range(int(rng.integers(1, 9))):
        kind = SUPPORTED[rng.integers(len(SUPPORTED))]
        layer = {"name": f"l{index}", "type": kind}
        if kind in ("Linear", "Dense"):
            layer["out_features"] = int(rng.integers(1, 40))
        if kind == "LeakyReLU":
            layer["negative_slope"] = float(rng.uniform(0.01, 0.5))
        if kind == "GELU":
            layer["approximate"] = str(rng.choice(["none", "tanh"]))
        layers.append(layer)
    return layers


def served_model(tmp_path, layers, **options) -> ServedModel:
    definition, stack = load_stack(model_folder(tmp_path, layers, **options))
    return ServedModel(definition, stack, 64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", range(6))
def test_chains_of_supported_layers_give_the_torch_stacks_outputs(tmp_path, seed, dtype):
    rng = np.random.default_rng(seed)
    _, stack = load_stack(model_folder(tmp_path, random_chain(rng), dtype))
    path = NumpyPath.build(stack)
    assert path is not None
    for rows in (1, 7):
        x = rng.standard_normal((rows, 8)).astype(dtype)
        (expected,) = stack(torch.from_numpy(x))
        (got,) = path.forward(x)
        assert got.dtype == np.dtype(dtype)
        assert got.shape == tuple(expected.shape)
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_skip_connections_give_the_torch_stacks_outputs(tmp_path):
    layers = [
        {"name": "fc", "type": "Linear", "out_features": 8},
        {"name": "act", "type": "ReLU"},
        {"name": "residual", "type": "Add", "inputs": ["act", "x"]},
        {"name": "gate", "type": "Tanh", "inputs": ["x"]},
        {"name": "gated", "type": "Multiply", "inputs": ["residual", "gate"]},
        {"name": "both", "type": "Concat", "inputs": ["gated", "fc"], "dim": -1},
        {"name": "head", "type": "Linear", "out_features": 3},
    ]
    _, stack = load_stack(model_folder(tmp_path, layers))
    x = np.random.default_rng(3).standard_normal((4, 8)).astype(np.float32)
    (expected,) = stack(torch.from_numpy(x))
    (got,) = NumpyPath.build(stack).forward(x)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_every_layer_is_there_when_run(tmp_path):
    layers = [{"name": "fc", "type": "Linear", "out_features": 4}, {"name": "act", "type": "ReLU"}]
    _, stack = load_stack(model_folder(tmp_path, layers))
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    values = NumpyPath.build(stack).run(x)
    declared = stack.run(torch.from_numpy(x))
    assert list(values) == list(declared) == ["x", "fc", "act"]
    for name in declared:
        np.testing.assert_allclose(values[name], declared[name].numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("other", [{"type": "Softmax"}, {"type": "LayerNorm"}, {"type": "Mish"}, {"type": "ELU"}])
def test_a_layer_without_a_numpy_counterpart_keeps_the_torch_path(tmp_path, other):
    layers = [{"name": "fc", "type": "Linear", "out_features": 4}, {"name": "other", **other}]
    _, stack = load_stack(model_folder(tmp_path, layers))
    assert NumpyPath.build(stack) is None


@pytest.mark.parametrize(
    "layer", [{"type": "GELU"}, {"type": "GELU", "approximate": "tanh"}, {"type": "SiLU"}, {"type": "Sigmoid"}]
)
def test_activations_without_a_ufunc_give_torchs_own_bits(tmp_path, layer):
    _, stack = load_stack(model_folder(tmp_path, [{"name": "act", **layer}]))
    x = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    x.flags.writeable = False  # as a request's buffer can be: read, never written to
    (expected,) = stack(torch.from_numpy(x.copy()))
    (got,) = NumpyPath.build(stack).forward(x)
    assert np.array_equal(got.view(np.uint32), expected.numpy().view(np.uint32))


def test_it_reads_the_parameters_memory_rather_than_a_copy(tmp_path):
    _, stack = load_stack(model_folder(tmp_path, [{"name": "fc", "type": "Linear", "out_features": 3}]))
    path = NumpyPath.build(stack)
    x = np.ones((1, 8), np.float32)
    (before,) = path.forward(x)
    with torch.no_grad():
        stack.layers[0].weight.add_(1.0)
    (after,) = path.forward(x)
    np.testing.assert_allclose(after - before, np.full((1, 3), 8.0), rtol=1e-5)


def test_a_passed_deadline_stops_before_the_next_step(tmp_path):
    layers = [{"name": "fc", "type": "Linear", "out_features": 4}, {"name": "act", "type": "ReLU"}]
    _, stack = load_stack(model_folder(tmp_path, layers))
    with pytest.raises(InferenceTimeout, match="fc"):
        NumpyPath.build(stack).forward(np.ones((1, 8), np.float32), deadline=Deadline(1.0, at=0.0))


MLP = [
    {"name": "fc1", "type": "Linear", "out_features": 16},
    {"name": "act", "type": "ReLU"},
    {"name": "fc2", "type": "Linear", "out_features": 3},
]


def test_a_worker_computing_with_one_thread_serves_through_numpy(tmp_path, one_torch_thread):
    model = served_model(tmp_path, MLP)
    assert model.numpy_path is None  # until the worker's warm-up has checked it
    model.warm_up()
    assert model.numpy_path is not None
    x = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    served = model.infer({"x": x})["fc2"]
    np.testing.assert_array_equal(served, model.numpy_path.forward(x)[0])
    np.testing.assert_allclose(served, model.stack(torch.from_numpy(x))[0].numpy(), rtol=1e-5, atol=1e-6)


def test_a_model_past_the_cache_sized_limit_computes_only_single_rows_with_numpy(tmp_path, one_torch_thread):
    # 8 → 40,000 → 8: 2.7 MB of float32 parameters, past NUMPY_BATCH_PARAMETER_BYTES
    layers = [
        {"name": "up", "type": "Linear", "out_features": 40_000},
        {"name": "act", "type": "ReLU"},
        {"name": "down", "type": "Linear", "out_features": 8},
    ]
    model = served_model(tmp_path, layers)
    model.warm_up()
    assert model.numpy_path is not None and not model.numpy_batches
    assert model.serving_backend == "numpy for one row, torch for more"
    rng = np.random.default_rng(2)
    one, several = rng.standard_normal((1, 8), np.float32), rng.standard_normal((6, 8), np.float32)
    (numpy_one,) = model.numpy_path.forward(one)
    (torch_several,) = model.serving.forward(torch.from_numpy(several))
    np.testing.assert_array_equal(model.infer({"x": one})["down"], numpy_one)
    np.testing.assert_array_equal(model.infer({"x": several})["down"], torch_several.numpy())
    assert not np.array_equal(
        torch_several.numpy(), np.concatenate([model.numpy_path.forward(several[i : i + 1])[0] for i in range(6)])
    )


def test_a_small_model_computes_every_batch_with_numpy(tmp_path, one_torch_thread):
    model = served_model(tmp_path, MLP)
    model.warm_up()
    assert model.numpy_batches and model.serving_backend == "numpy"


def test_several_torch_threads_keep_the_torch_path(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = served_model(tmp_path, MLP)
        model.warm_up()
    finally:
        torch.set_num_threads(threads)
    assert model.numpy_path is None


def test_a_batched_model_keeps_the_torch_path(tmp_path, one_torch_thread):
    model = served_model(tmp_path, MLP, batching={"max_queue_delay_microseconds": 100})
    model.warm_up()
    assert model.numpy_path is None


def test_a_numpy_path_that_disagrees_is_not_used(tmp_path, one_torch_thread, monkeypatch, caplog):
    model = served_model(tmp_path, MLP)
    built = NumpyPath.build(model.serving)
    monkeypatch.setattr(built, "forward", lambda *inputs, deadline=None: [np.zeros((len(inputs[0]), 3), np.float32)])
    monkeypatch.setattr(NumpyPath, "build", classmethod(lambda cls, stack: built))
    with caplog.at_level(logging.WARNING, logger="service.runtime.served"):
        model.warm_up()
    assert model.numpy_path is None
    assert "numpy serving path disagrees" in caplog.text


def test_activation_health_is_counted_on_the_numpy_path(tmp_path, one_torch_thread):
    definition, stack = load_stack(model_folder(tmp_path, MLP))
    model = ServedModel(definition, stack, 64, health_sample_every=1)
    model.warm_up()
    assert model.numpy_path is not None
    x = np.random.default_rng(2).standard_normal((6, 8)).astype(np.float32)
    model.infer({"x": x})
    summary = model.health.summary(max_values=100)
    assert summary["samples"] == 6
    (act,) = summary["layers"]
    dead = stack.run(torch.from_numpy(x))["act"].numpy() == 0
    assert act["per_neuron"] == pytest.approx(dead.mean(axis=0).tolist())
