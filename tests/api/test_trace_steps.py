"""The steps a trace shows inside a layer, named so clients can rely on them, with their labels."""

import numpy as np
import pytest
import torch

from .helpers import app_over, infer_body, write_models


def trace(client, model, body):
    response = client.post(f"/v2/models/{model}/trace", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def layer(document, name):
    (found,) = [entry for entry in document["layers"] if entry["name"] == name]
    return found


def steps(layer_document):
    return {step["name"]: step for step in layer_document["steps"]}


def test_dense_terms_are_the_lessons_products_neuron_by_neuron(client):
    dense = layer(trace(client, "dense", infer_body("point", [[0.5, 1.0]])), "dense1")
    assert [step["name"] for step in dense["steps"]] == ["terms", "product", "bias", "output"]
    terms = steps(dense)["terms"]
    assert terms["shape"] == [1, 3, 2] and terms["label"] == "xᵢ·Wᵢⱼ"
    # 0.5·0.2 + 1.0·(−0.9) = −0.8; 0.5·0.8 + 1.0·0.2 = 0.6; 0.5·(−0.5) + 1.0·0.4 = 0.15
    neurons = np.reshape(terms["data"], (3, 2))
    assert np.allclose(neurons, [[0.1, -0.9], [0.4, 0.2], [-0.25, 0.4]], atol=1e-7)
    assert steps(dense)["product"]["label"] == "x·W" and steps(dense)["output"]["label"] == "x·W + b"


def test_linear_is_labelled_x_w_transposed_and_its_terms_read_w_by_rows(client):
    linear = layer(trace(client, "fold", infer_body("x", [[1, 0]])), "linear")
    by_name = steps(linear)
    assert by_name["product"]["label"] == "x·Wᵀ" and by_name["terms"]["label"] == "xᵢ·Wⱼᵢ"
    assert by_name["product"]["data"] == [1.0, -0.5]  # W·x per sample, not x·W = (1, 0.5)
    assert by_name["terms"]["data"] == [1.0, 0.0, -0.5, 0.0]
    recipe = layer(trace(client, "recipe", infer_body("ingredients", [[1, 2, 3]])), "linear")
    assert steps(recipe)["terms"]["shape"] == [1, 2, 3]
    assert steps(recipe)["terms"]["data"] == pytest.approx([0.5, 0.6, 0.6, 0.4, 0.2, 1.8])


def test_terms_of_large_layers_come_only_when_asked_and_bounded(tmp_path):
    client = app_over(write_models(tmp_path, {"classifier": None}), TRACE_MAX_VALUES=100).test_client()
    image = np.random.default_rng(0).random((2, 1, 28, 28)).tolist()
    plain = layer(trace(client, "classifier", infer_body("image", image)), "fc1")
    assert "terms" not in steps(plain)  # 784 × 128 > 4096
    asked = trace(client, "classifier", {**infer_body("image", image), "parameters": {"terms": True}})
    terms = steps(layer(asked, "fc1"))["terms"]
    assert terms["shape"] == [2, 128, 784] and len(terms["data"]) == 100 and terms["truncated"]
    weight = client.application.extensions["layerserve"].repository.get("classifier").stack.layers[1].weight
    flat = torch.tensor(image, dtype=torch.float32).reshape(2, 784)
    assert terms["data"] == pytest.approx((flat[0, :100] * weight[0, :100]).tolist(), rel=1e-6)
    refused = trace(client, "classifier", {**infer_body("image", image), "parameters": {"terms": False}})
    assert "terms" not in steps(layer(refused, "fc4"))  # 32 × 10: sent unless refused


def test_layer_norm_shows_mean_variance_and_normalized(client):
    document = trace(client, "norms", infer_body("x", [[1, 2, 3, 4]]))
    norm = steps(layer(document, "layer_norm"))
    assert list(norm) == ["mean", "variance", "normalized", "output"]
    assert norm["mean"]["data"] == [2.5] and norm["variance"]["data"] == [1.25]
    expected = (np.array([1, 2, 3, 4]) - 2.5) / np.sqrt(1.25 + 1e-5)
    assert norm["normalized"]["data"] == pytest.approx(expected.tolist(), rel=1e-6)
    assert norm["output"]["data"] == pytest.approx(expected.tolist(), rel=1e-6)  # γ = 1, β = 0


def test_batch_norm_in_eval_shows_its_running_statistics_marked_as_such(client):
    norm = steps(layer(trace(client, "norms", infer_body("x", [[1, 2, 3, 4]])), "batch_norm"))
    assert norm["mean"]["running"] and norm["variance"]["running"] and "running" not in norm["normalized"]
    assert norm["mean"]["label"] == "running mean"
    mean, variance = np.array(norm["mean"]["data"]), np.array(norm["variance"]["data"])
    normalized = (np.array([1, 2, 3, 4]) - mean) / np.sqrt(variance + 1e-5)
    assert norm["normalized"]["data"] == pytest.approx(normalized.tolist(), rel=1e-6)


def test_rms_norm_shows_the_rms_torch_divides_by(client):
    norm = steps(layer(trace(client, "norms", infer_body("x", [[1, 2, 3, 4]])), "rms_norm"))
    assert list(norm) == ["rms", "normalized", "output"]
    rms = np.sqrt(np.mean(np.array([1, 2, 3, 4]) ** 2) + 1e-6)  # torch: √(mean(x²) + eps)
    assert norm["rms"]["data"] == pytest.approx([rms], rel=1e-6) and norm["rms"]["label"] == "√(mean(x²) + 1e-06)"
    assert norm["normalized"]["data"] == pytest.approx((np.array([1, 2, 3, 4]) / rms).tolist(), rel=1e-6)


def test_rms_norm_without_eps_uses_the_machine_epsilon(tmp_path):
    models = write_models(
        tmp_path, {"rms": "inputs: [{name: x, shape: [2]}]\ninit: {seed: 0}\nlayers:\n  - {name: n, type: RMSNorm}\n"}
    )
    norm = steps(layer(trace(app_over(models).test_client(), "rms", infer_body("x", [[3, 4]])), "n"))
    eps = float(np.finfo(np.float32).eps)
    assert norm["rms"]["label"] == f"√(mean(x²) + {eps:g})"
    assert norm["rms"]["data"] == pytest.approx([np.sqrt(12.5 + eps)])


@pytest.mark.parametrize(
    ("model", "name", "formula"),
    [("fold", "act", "max(0, x)"), ("softmax", "probabilities", "exp(xᵢ) / Σⱼ exp(xⱼ) along dim -1")],
)
def test_activations_carry_their_formula_in_the_trace_and_the_layers(client, model, name, formula):
    metadata = client.get(f"/v2/models/{model}").get_json()
    (spec,) = metadata["inputs"]
    body = infer_body(spec["name"], np.zeros([1, *spec["shape"][1:]]).tolist())
    assert layer(trace(client, model, body), name)["formula"] == formula
    described = client.get(f"/v2/models/{model}/layers/{name}").get_json()
    assert described["formula"] == formula


def test_every_activation_type_has_a_formula(client):
    types = client.get("/v2/layer-types").get_json()["layer_types"]
    activations = [entry for entry in types if entry["family"] == "activation"]
    assert len(activations) > 20 and all(entry.get("formula") for entry in activations)
    leaky = next(entry for entry in types if entry["name"] == "LeakyReLU")
    assert leaky["formula"] == "max(0, x) + negative_slope·min(0, x)"


def test_the_openapi_document_names_the_steps_and_the_what_if_parameters(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    step_names = schemas["Step"]["properties"]["name"]["description"]
    for name in ("terms", "product", "bias", "output", "mean", "variance", "normalized", "rms"):
        assert name in step_names
    parameters = schemas["TraceParameters"]["properties"]
    assert {"terms", "weights", "activations"} <= set(parameters)
