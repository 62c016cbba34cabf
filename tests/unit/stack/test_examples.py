"""The example models' worked numbers, as built by the stack core."""

import math
import runpy

import numpy as np
import pytest
import safetensors.numpy
import torch

from service.stack import load_stack


def run(models_dir, name, *inputs):
    _, stack = load_stack(models_dir / name)
    with torch.inference_mode():
        return stack(*(torch.as_tensor(x, dtype=torch.float32) for x in inputs))


def test_fold_shears_then_folds(models_dir):
    (out,) = run(models_dir, "fold", [[1, 0], [0, 1], [1, 1]])
    assert out.tolist() == [[1, 0], [0.5, 1], [1.5, 0.5]]


def test_fold_linear_step_before_the_fold(models_dir):
    _, stack = load_stack(models_dir / "fold")
    linear = stack.layers[0]
    assert linear(torch.tensor([[1.0, 0], [0, 1], [1, 1]])).tolist() == [[1, -0.5], [0.5, 1], [1.5, 0.5]]


def test_recipe_mixes_three_ingredients_into_two(models_dir):
    (out,) = run(models_dir, "recipe", [[1, 2, 3]])
    assert out[0].tolist() == pytest.approx([1.8, 2.6])


def test_dense_maps_the_point_into_three_dimensions(models_dir):
    (out,) = run(models_dir, "dense", [[0.5, 1.0]])
    assert out[0].tolist() == pytest.approx([1.2, 3.6, 0.65])


def test_dense_uses_inputs_by_neurons_layout(models_dir):
    _, stack = load_stack(models_dir / "dense")
    assert tuple(stack.layers[0].weight.shape) == (2, 3)


def test_sine_tents_approximate_the_sine_within_a_hundredth(models_dir):
    x = torch.linspace(0, 2 * math.pi, 10001).unsqueeze(1)
    (out,) = run(models_dir, "sine", x)
    assert (out - torch.sin(x)).abs().max().item() <= 0.01


def test_matcher_relates_two_named_inputs(models_dir):
    x1, x2 = torch.randn(4, 5), torch.randn(4, 4)
    (out,) = run(models_dir, "matcher", x1, x2)
    _, stack = load_stack(models_dir / "matcher")
    bilinear = stack.layers[0]
    expected = torch.einsum("bi,oij,bj->bo", x1, bilinear.weight, x2) + bilinear.bias
    assert out.shape == (4, 3)
    assert torch.allclose(out, expected, atol=1e-5)


def test_matcher_seeded_weights_are_reproducible(models_dir):
    _, first = load_stack(models_dir / "matcher")
    _, second = load_stack(models_dir / "matcher")
    assert torch.equal(first.layers[0].weight, second.layers[0].weight)
    assert first.layers[0].weight.abs().max() <= 1 / math.sqrt(5)


def test_classifier_outputs_probabilities(models_dir):
    (out,) = run(models_dir, "classifier", torch.rand(8, 1, 28, 28))
    assert out.shape == (8, 10)
    assert torch.allclose(out.sum(dim=1), torch.ones(8), atol=1e-5)


def test_classifier_ignores_dropout_in_eval(models_dir):
    images = torch.rand(8, 1, 28, 28)
    assert torch.equal(run(models_dir, "classifier", images)[0], run(models_dir, "classifier", images)[0])


@pytest.mark.parametrize("model", ["classifier"])  # the sines: test_lessons.py
def test_committed_weights_are_what_the_script_computes(models_dir, model):
    script = models_dir / model / "make_weights.py"
    computed = runpy.run_path(str(script))["make_weights"]
    expected = computed()
    stored = safetensors.numpy.load_file(models_dir / model / "weights.safetensors")
    assert sorted(stored) == sorted(expected)
    for key, value in expected.items():
        assert np.array_equal(stored[key], value), key


def test_sharpen_adds_the_edges_back_and_pools_pairs(models_dir):
    (out,) = run(models_dir, "sharpen", [[[0, 0, 1, 1, 0, 0]]])
    assert out.tolist() == [[[0, 2, 0]]]


def test_sharpen_is_an_unsharp_mask(models_dir):
    signals = np.random.default_rng(3).standard_normal((5, 1, 6)).astype(np.float32)
    laplacian = np.array([-1.0, 2.0, -1.0])
    # np.convolve flips its kernel; this one is symmetric. "same" pads with zeros, as padding: 1 does.
    sharpened = np.stack([s[0] + np.convolve(s[0], laplacian, mode="same") for s in signals])
    expected = sharpened.reshape(5, 3, 2).max(axis=2)[:, None, :]
    (out,) = run(models_dir, "sharpen", signals)
    assert np.allclose(out.numpy(), expected, atol=1e-6)
    _, stack = load_stack(models_dir / "sharpen")
    assert [b.sources for b in stack.built] == [("signal",), ("signal", "edges"), ("sharpened",)]


def test_review_adds_up_word_scores_and_squashes_them(models_dir):
    _, stack = load_stack(models_dir / "review")
    words = torch.tensor([[2, 5, 0, 0], [4, 1, 5, 0], [3, 3, 3, 3]])
    (out,) = stack(words)
    scores = {0: 0.0, 1: 1.0, 2: 2.0, 3: -1.0, 4: -2.0, 5: 0.0}
    expected = [[math.tanh(sum(scores[w] for w in row))] for row in words.tolist()]
    assert out.tolist() == [pytest.approx(row, abs=1e-6) for row in expected]
    assert out[:2].flatten().tolist() == pytest.approx([0.9640276, -0.7615942], abs=1e-6)
