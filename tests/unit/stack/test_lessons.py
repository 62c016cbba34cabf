"""Every worked example of the lessons has a model, and the model gives the lesson's numbers."""

import math
import re
import runpy

import numpy as np
import pytest
import safetensors.numpy
import torch

from service.stack import load_definition, load_stack


def run(models_dir, name, *inputs):
    _, stack = load_stack(models_dir / name)
    with torch.inference_mode():
        return stack(*(torch.as_tensor(x, dtype=torch.float32) for x in inputs))


def values(models_dir, name, x):
    """Every layer's output for x, by name."""
    _, stack = load_stack(models_dir / name)
    with torch.inference_mode():
        return stack.run(torch.as_tensor(x, dtype=torch.float32))


# --- the sine, at three sizes ---------------------------------------------------------------

SINES = {"sine": 64, "sine_n8": 8, "sine_n4": 4}
X = torch.linspace(0, 2 * math.pi, 20_001, dtype=torch.float32).unsqueeze(1)


def stated_error(models_dir, name) -> float:
    return float(re.search(r"max error ([\d.]+)", load_definition(models_dir / name).description).group(1))


@pytest.mark.parametrize(("name", "n"), SINES.items())
def test_each_sines_description_states_its_max_error(models_dir, name, n):
    (out,) = run(models_dir, name, X)
    error = (out.double() - torch.sin(X.double())).abs().max().item()
    stated = stated_error(models_dir, name)
    digits = len(str(stated).split(".")[1])
    assert round(error, digits) == pytest.approx(stated, abs=10**-digits / 2)
    assert error <= (2 * math.pi / n) ** 2 / 8  # linear interpolation: at most h²/8 · max|sin''|


def test_the_error_falls_as_h_squared_over_8(models_dir):
    """Doubling N quarters h²: the measured error times N² tends to (2π)²/8."""
    scaled = {}
    for name, n in SINES.items():
        (out,) = run(models_dir, name, X)
        scaled[n] = (out.double() - torch.sin(X.double())).abs().max().item() * n**2
    limit = (2 * math.pi) ** 2 / 8
    assert scaled[4] < scaled[8] < scaled[64] <= limit
    assert scaled[64] == pytest.approx(limit, rel=0.01) and scaled[8] > 0.9 * limit


@pytest.mark.parametrize(("name", "n"), SINES.items())
def test_each_tent_is_exactly_zero_outside_its_two_intervals(models_dir, name, n):
    layers = values(models_dir, name, X)
    tents = layers["tent"]
    h = runpy.run_path(str(models_dir / "sine" / "make_weights.py"))["spacing"](n)
    distance = (X.double() - torch.arange(n + 1, dtype=torch.float64) * h).abs()
    assert torch.all(tents[distance >= h] == 0)  # no float residue, whatever the summation order
    assert torch.all(tents >= 0) and torch.equal(layers["tent_act"], tents)
    alive = (layers["tent_act"] > 0).sum(dim=1)
    assert alive.max().item() == 2  # two tents at each x: the lesson's point


def test_tent_act_is_97_percent_dead(models_dir):
    """63 of sine's 65 tents are 0 at any x: a trace of x = 1 shows three tents at exactly 0 around the two alive."""
    tent_act = values(models_dir, "sine", X)["tent_act"]
    assert (tent_act == 0).double().mean().item() == pytest.approx(63 / 65, abs=0.002)
    at_one = values(models_dir, "sine", [[1.0]])["tent_act"][0]
    assert (at_one > 0).sum().item() == 2 and (at_one == 0).sum().item() == 63


@pytest.mark.parametrize("name", SINES)
def test_committed_sine_weights_are_what_the_script_computes(models_dir, name):
    script = runpy.run_path(str(models_dir / "sine" / "make_weights.py"))
    assert script["SIZES"] == SINES
    expected = script["make_weights"](SINES[name])
    stored = safetensors.numpy.load_file(models_dir / name / "weights.safetensors")
    assert sorted(stored) == sorted(expected)
    for key, value in expected.items():
        assert np.array_equal(stored[key], value), key


# --- lesson 003: ramps and tents --------------------------------------------------------------


def test_the_lessons_pair_is_a_valley_and_three_ramps_are_a_tent(models_dir):
    xs = [[0.0], [0.2], [0.35], [0.5], [0.65], [0.8], [1.0]]
    valley, tent = run(models_dir, "tent", xs)
    assert valley.flatten().tolist() == pytest.approx([0.8, 0.6, 0.6, 0.6, 0.6, 0.6, 0.8], abs=1e-6)
    assert tent.flatten().tolist() == pytest.approx([0, 0, 0.15, 0.3, 0.15, 0, 0], abs=1e-6)
    outside = torch.tensor([[-1.0], [0.1], [0.9], [3.0]])
    assert torch.all(run(models_dir, "tent", outside)[1] == 0)


# --- lesson 003: one point through a dense layer ----------------------------------------------


def test_without_its_bias_the_dense_layer_gives_0_0_6_0_15_after_relu(models_dir):
    layers = values(models_dir, "dense_nobias", [[0.5, 1.0]])
    assert layers["dense1"][0].tolist() == pytest.approx([-0.8, 0.6, 0.15], abs=1e-6)
    assert layers["activation1"][0].tolist() == pytest.approx([0.0, 0.6, 0.15], abs=1e-6)


def test_each_class_gets_its_own_signature(models_dir):
    centres = torch.tensor([[0.0, 1.0], [-0.8660254, -0.5], [0.8660254, -0.5]])
    (signatures,) = run(models_dir, "signature", centres)
    assert signatures.tolist() == [pytest.approx(row, abs=1e-6) for row in torch.eye(3).tolist()]
    rng = np.random.default_rng(0)
    points = np.concatenate([c + 0.2 * rng.standard_normal((20, 2)) for c in centres.numpy()])
    classes = np.repeat([0, 1, 2], 20)
    (found,) = run(models_dir, "signature", points)
    assert (found.argmax(dim=1).numpy() == classes).all()
    own_axis = found[torch.arange(60), torch.as_tensor(classes)]
    assert torch.all(own_axis > found.sum(dim=1) - own_axis)  # closest to its own class's axis


# --- lesson 001: the building blocks -----------------------------------------------------------


def test_relu_keeps_the_positive_numbers_and_dropout_in_eval_passes_them(models_dir):
    relu, leaky, sigmoid, tanh, dropout = run(models_dir, "activations", [[-2, -1, 0, 1, 2]])
    assert relu[0].tolist() == [0, 0, 0, 1, 2]
    assert leaky[0].tolist() == pytest.approx([-0.02, -0.01, 0, 1, 2])
    assert sigmoid[0].tolist() == pytest.approx(
        [1 / (1 + math.exp(2)), 1 / (1 + math.e), 0.5, 1 / (1 + 1 / math.e), 1 / (1 + math.exp(-2))]
    )
    assert all(0 < v < 1 for v in sigmoid[0].tolist()) and all(-1 < v < 1 for v in tanh[0].tolist())
    assert dropout[0].tolist() == [-2, -1, 0, 1, 2]


def test_softmax_gives_cat_30_dog_60_bird_10(models_dir):
    (probabilities,) = run(models_dir, "softmax", [[math.log(3), math.log(6), 0.0]])
    assert probabilities[0].tolist() == pytest.approx([0.3, 0.6, 0.1], abs=1e-6)
    assert probabilities.sum().item() == pytest.approx(1.0)


def test_flatten_unrolls_28_by_28_into_784_and_unflatten_rolls_it_back(models_dir):
    image = torch.arange(784, dtype=torch.float32).reshape(1, 28, 28)
    flat, back = run(models_dir, "reshape", image)
    assert flat.shape == (1, 784) and flat[0].tolist() == list(range(784))  # row after row
    assert back.shape == (1, 28, 28) and torch.equal(back, image)


def test_norms_show_running_statistics_the_samples_own_and_the_rms(models_dir):
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    batch, layer, rms = run(models_dir, "norms", x)
    running_mean, running_var = torch.tensor([2.0, 2, 2, 2]), torch.tensor([1.0, 1, 4, 4])
    assert torch.allclose(batch, (x - running_mean) / torch.sqrt(running_var + 1e-5))
    assert torch.allclose(layer, (x - 2.5) / math.sqrt(1.25 + 1e-5))
    torch_rms = x / torch.sqrt((x**2).mean() + 1e-6)
    lesson_rms = x / (torch.sqrt((x**2).mean()) + 1e-6)
    assert torch.allclose(rms, torch_rms, rtol=1e-6, atol=0)
    # at eps = 1e-6 the lesson's x / (rms + eps) differs by about 2e-7: below float32's resolution here
    assert torch.allclose(rms, lesson_rms, rtol=1e-6, atol=0)
