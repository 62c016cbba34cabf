"""The serving path: Dropout/Identity dropped, BatchNorm folded, linear chains merged, same outputs."""

import numpy as np
import pytest
import torch
import yaml

from service.runtime.served import ServedModel
from service.stack import load_stack
from service.stack.optimize import describe_serving_path, optimize


def build(tmp_path, layers, inputs=None, outputs=None):
    folder = tmp_path / "model"
    folder.mkdir(parents=True, exist_ok=True)
    definition = {"inputs": inputs or [{"name": "x", "shape": [8]}], "init": {"seed": 7}, "layers": layers}
    if outputs:
        definition["outputs"] = outputs
    (folder / "model.yaml").write_text(yaml.safe_dump(definition))
    return load_stack(folder)


def with_running_stats(stack):
    """Seeded BatchNorm starts at mean 0, var 1: give it statistics worth folding."""
    generator = torch.Generator().manual_seed(1)
    for module in stack.layers:
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator))
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return stack


def steps(serving):
    return [step["layers"] for step in describe_serving_path(serving)]


def same_outputs(declared, serving, *inputs):
    for a, b in zip(declared(*inputs), serving(*inputs), strict=True):
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)


def linear(name, out):
    return {"name": name, "type": "Linear", "out_features": out}


def test_dropout_and_identity_are_dropped_and_batch_norm_folds(tmp_path):
    _, stack = build(
        tmp_path,
        [
            linear("fc1", 16),
            {"name": "drop", "type": "Dropout", "p": 0.3},
            {"name": "bn", "type": "BatchNorm1d"},
            {"name": "same", "type": "Identity"},
            {"name": "act", "type": "ReLU"},
            linear("fc2", 4),
        ],
    )
    with_running_stats(stack)
    serving = optimize(stack)
    assert steps(serving) == [["fc1", "bn"], ["act"], ["fc2"]]
    same_outputs(stack, serving, torch.randn(5, 8))


def test_linear_layers_with_nothing_between_merge_when_cheaper(tmp_path):
    _, stack = build(tmp_path, [linear("a", 8), linear("b", 8), {"name": "dense", "type": "Dense", "out_features": 3}])
    serving = optimize(stack)
    assert steps(serving) == [["a", "b", "dense"]]
    same_outputs(stack, serving, torch.randn(5, 8))


def test_a_bottleneck_is_not_merged_into_a_bigger_product(tmp_path):
    _, stack = build(tmp_path, [linear("down", 2), linear("up", 64)])
    assert optimize(stack) is None


def test_a_layer_read_twice_is_not_fused(tmp_path):
    _, stack = build(
        tmp_path,
        [
            linear("fc", 8),
            {"name": "bn", "type": "BatchNorm1d"},
            {"name": "skip", "type": "Bilinear", "inputs": ["fc", "bn"], "out_features": 2},
        ],
    )
    assert optimize(stack) is None


def test_outputs_that_name_fused_or_dropped_layers_still_answer(tmp_path):
    _, stack = build(
        tmp_path,
        [linear("fc", 8), {"name": "bn", "type": "BatchNorm1d"}, {"name": "drop", "type": "Dropout"}],
        outputs=["drop", "bn"],
    )
    with_running_stats(stack)
    serving = optimize(stack)
    assert steps(serving) == [["fc", "bn"]]
    same_outputs(stack, serving, torch.randn(3, 8))


def test_a_fused_layer_named_as_output_stops_further_fusion(tmp_path):
    _, stack = build(
        tmp_path,
        [linear("fc", 8), {"name": "bn", "type": "BatchNorm1d"}, linear("head", 4)],
        outputs=["bn", "head"],
    )
    with_running_stats(stack)
    serving = optimize(stack)
    assert steps(serving) == [["fc", "bn"], ["head"]]
    same_outputs(stack, serving, torch.randn(3, 8))


def test_unfused_layers_keep_their_tensors(tmp_path):
    _, stack = build(tmp_path, [linear("fc", 8), {"name": "drop", "type": "Dropout"}, {"name": "act", "type": "ReLU"}])
    serving = optimize(stack)
    assert serving.layers[0] is stack.layers[0]


def test_the_classifier_serves_through_a_shorter_path(models_dir):
    _, stack = load_stack(models_dir / "classifier")
    serving = optimize(stack)
    assert len(serving.layers) < len(stack.layers)
    same_outputs(stack, serving, torch.rand(4, 1, 28, 28))


def test_a_serving_path_that_disagrees_is_replaced_by_the_declared_stack(tmp_path):
    definition, stack = build(tmp_path, [linear("a", 8), linear("b", 8)])
    model = ServedModel(definition, stack, 16)
    assert model.serving is not model.stack
    with torch.no_grad():
        model.serving.layers[0].weight.add_(1.0)
    model.warm_up()
    assert model.serving is model.stack
    x = np.ones((2, 8), np.float32)
    assert np.array_equal(model.infer({"x": x})["b"], stack(torch.from_numpy(x))[0].numpy())


@pytest.mark.parametrize("seed", range(5))
def test_random_chains_keep_their_outputs(tmp_path, seed):
    rng = np.random.default_rng(seed)
    kinds = ["Linear", "Linear", "BatchNorm1d", "Dropout", "Identity", "ReLU", "Dense"]
    layers = []
    for index in range(8):
        kind = kinds[rng.integers(len(kinds))]
        layer = {"name": f"l{index}", "type": kind}
        if kind in ("Linear", "Dense"):
            layer["out_features"] = int(rng.integers(2, 12))
        layers.append(layer)
    _, stack = build(tmp_path, layers)
    with_running_stats(stack)
    serving = optimize(stack) or stack
    same_outputs(stack, serving, torch.randn(6, 8))


def test_only_known_layers_fold_around_residuals_and_convolutions(tmp_path):
    _, stack = build(
        tmp_path,
        [
            linear("fc", 8),
            {"name": "bn", "type": "BatchNorm1d"},
            {"name": "skip", "type": "Add", "inputs": ["x", "bn"]},
            {"name": "grid", "type": "Unflatten", "dim": 1, "unflattened_size": [2, 4]},
            {"name": "conv", "type": "Conv1d", "out_channels": 2, "kernel_size": 1},
            {"name": "bn2", "type": "BatchNorm1d"},
            {"name": "drop", "type": "Dropout"},
            {"name": "both", "type": "Concat", "inputs": ["drop", "grid"], "dim": 1},
        ],
    )
    with_running_stats(stack)
    serving = optimize(stack)
    # BatchNorm folds into the Linear before it, never into a convolution; Dropout is dropped
    assert steps(serving) == [["fc", "bn"], ["skip"], ["grid"], ["conv"], ["bn2"], ["both"]]
    assert serving.built[-1].sources == ("bn2", "grid")
    same_outputs(stack, serving, torch.randn(5, 8))
