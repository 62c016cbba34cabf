"""/v2/models/{m}/layers: each layer's wiring, shapes, hyper-parameters, parameters and buffers."""

import numpy as np
import pytest
import yaml

from .helpers import MODELS

TENSOR_FIELDS = ("weight", "bias", "running_mean", "running_var")


def definition(name: str) -> dict:
    return yaml.safe_load((MODELS / name / "model.yaml").read_text(encoding="utf-8"))


def layers_of(client, name: str, query: str = "") -> dict:
    response = client.get(f"/v2/models/{name}/layers{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def torch_stack(app, name: str):
    return app.extensions["layerserve"].repository.get(name).stack


# --- dense -------------------------------------------------------------------------------------


def test_dense_layers(client):
    described = layers_of(client, "dense")
    assert (described["model_name"], described["model_version"]) == ("dense", "1")
    dense1, activation1 = described["layers"]
    assert dense1 == {
        "index": 0,
        "name": "dense1",
        "type": "Dense",
        "family": "linear",
        "hyperparameters": {"in_features": 2, "out_features": 3, "bias": True},
        "weight_layout": "inputs × neurons",
        "inputs": ["point"],
        "input_shapes": [[-1, 2]],
        "output_shape": [-1, 3],
        "parameters": [{"name": "weight", "shape": [2, 3], "count": 6}, {"name": "bias", "shape": [3], "count": 3}],
        "buffers": [],
        "parameter_count": 9,
        "parameter_bytes": 36,
        "macs": 6,
    }
    assert activation1 == {
        "index": 1,
        "name": "activation1",
        "type": "ReLU",
        "family": "activation",
        "hyperparameters": {},
        "formula": "max(0, x)",
        "inputs": ["dense1"],
        "input_shapes": [[-1, 3]],
        "output_shape": [-1, 3],
        "parameters": [],
        "buffers": [],
        "parameter_count": 0,
        "parameter_bytes": 0,
        "macs": 0,
    }
    assert (described["parameter_count"], described["parameter_bytes"], described["macs"]) == (9, 36, 6)


# --- classifier --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(app):
    return app.test_client().get("/v2/models/classifier/layers").get_json()


def test_classifier_layers_in_definition_order(classifier):
    declared = definition("classifier")["layers"]
    assert [layer["index"] for layer in classifier["layers"]] == list(range(len(declared)))
    assert [layer["name"] for layer in classifier["layers"]] == [d["name"] for d in declared]
    assert [layer["type"] for layer in classifier["layers"]] == [d["type"] for d in declared]


def test_classifier_hyperparameters_hold_the_declared_values(classifier):
    for layer, declared in zip(classifier["layers"], definition("classifier")["layers"], strict=True):
        given = {k: v for k, v in declared.items() if k not in ("name", "type", "inputs", *TENSOR_FIELDS)}
        assert layer["hyperparameters"] == {**layer["hyperparameters"], **given}, layer["name"]
    by_name = {layer["name"]: layer for layer in classifier["layers"]}
    assert by_name["bn1"]["hyperparameters"] == {"num_features": 128, "eps": 1e-5, "momentum": 0.1, "affine": True}
    assert by_name["drop1"]["hyperparameters"] == {"p": 0.2}


def test_classifier_wiring_and_shapes_chain(classifier):
    layers = classifier["layers"]
    assert layers[0]["inputs"] == ["image"]
    assert layers[0]["input_shapes"] == [[-1, 1, 28, 28]]
    assert layers[0]["output_shape"] == [-1, 784]
    for previous, layer in zip(layers, layers[1:]):
        assert layer["inputs"] == [previous["name"]]
        assert layer["input_shapes"] == [previous["output_shape"]]
    assert layers[-1]["output_shape"] == [-1, 10]
    for layer in layers:
        assert layer["output_shape"][0] == -1
        assert all(shape[0] == -1 for shape in layer["input_shapes"])


def test_batchnorm_buffers_without_the_training_counter(classifier):
    bn1 = next(layer for layer in classifier["layers"] if layer["type"] == "BatchNorm1d")
    assert bn1["buffers"] == [
        {"name": "running_mean", "shape": [128], "count": 128},
        {"name": "running_var", "shape": [128], "count": 128},
    ]
    assert bn1["parameters"] == [
        {"name": "weight", "shape": [128], "count": 128},
        {"name": "bias", "shape": [128], "count": 128},
    ]
    assert all(not layer["buffers"] for layer in classifier["layers"] if layer is not bn1)


def test_parameter_counts_match_torch(app, classifier):
    stack = torch_stack(app, "classifier")
    for layer, module in zip(classifier["layers"], stack.layers, strict=True):
        torch_params = dict(module.named_parameters(recurse=False))
        assert [(p["name"], p["shape"]) for p in layer["parameters"]] == [
            (name, list(t.shape)) for name, t in torch_params.items()
        ]
        assert [p["count"] for p in layer["parameters"]] == [t.numel() for t in torch_params.values()]
        assert layer["parameter_count"] == sum(t.numel() for t in torch_params.values()), layer["name"]
    assert classifier["parameter_count"] == sum(p.numel() for p in stack.parameters())
    assert classifier["parameter_count"] == sum(layer["parameter_count"] for layer in classifier["layers"])


# --- matcher and inferred hyper-parameters --------------------------------------------------------


def test_matcher_bilinear_lists_both_inputs(client):
    (bilinear,) = layers_of(client, "matcher")["layers"]
    assert bilinear["inputs"] == ["x1", "x2"]
    assert bilinear["input_shapes"] == [[-1, 5], [-1, 4]]
    assert bilinear["output_shape"] == [-1, 3]
    assert bilinear["parameters"] == [
        {"name": "weight", "shape": [3, 5, 4], "count": 60},
        {"name": "bias", "shape": [3], "count": 3},
    ]
    assert bilinear["parameter_count"] == 63


INFERRED = """
inputs: [{name: image, shape: [3, 4]}]
init: {seed: 0}
layers:
  - {name: flat, type: Flatten}
  - {name: fc, type: Linear, out_features: 5}
  - {name: norm, type: LayerNorm}
  - {name: bn, type: BatchNorm1d}
"""


def test_inferred_hyperparameters_are_reported(make_app):
    client = make_app({"inferred": INFERRED}).test_client()
    layers = {layer["name"]: layer for layer in layers_of(client, "inferred")["layers"]}
    assert layers["fc"]["hyperparameters"] == {"in_features": 12, "out_features": 5, "bias": True}
    assert layers["fc"]["input_shapes"] == [[-1, 12]]
    assert layers["norm"]["hyperparameters"]["normalized_shape"] == [5]
    assert layers["bn"]["hyperparameters"]["num_features"] == 5


# --- one layer -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "index"), [("dense", 0), ("dense", 1), ("classifier", 2), ("classifier", 13)])
def test_one_layer_by_name_and_by_index(client, model, index):
    listed = layers_of(client, model)["layers"][index]
    expected = {"model_name": model, "model_version": "1", **listed}
    by_index = client.get(f"/v2/models/{model}/layers/{index}").get_json()
    by_name = client.get(f"/v2/models/{model}/layers/{listed['name']}").get_json()
    versioned = client.get(f"/v2/models/{model}/versions/1/layers/{listed['name']}").get_json()
    assert by_index == by_name == versioned == expected


def test_versioned_listing_equals_the_plain_one(client):
    assert layers_of(client, "dense") == client.get("/v2/models/dense/versions/1/layers").get_json()


def test_values_are_the_inline_weights_of_the_definition(client):
    declared = definition("dense")["layers"][0]
    dense1 = client.get("/v2/models/dense/layers/dense1?values=true").get_json()
    weight, bias = dense1["parameters"]
    assert weight["name"] == "weight"
    np.testing.assert_allclose(weight["values"], [[0.2, 0.8, -0.5], [-0.9, 0.2, 0.4]], atol=1e-6)
    np.testing.assert_allclose(weight["values"], declared["weight"], atol=1e-6)
    np.testing.assert_allclose(bias["values"], declared["bias"], atol=1e-6)


def test_buffer_values_match_torch(app, client):
    bn1 = client.get("/v2/models/classifier/layers/bn1?values=true").get_json()
    module = torch_stack(app, "classifier").layers[bn1["index"]]
    for described in bn1["buffers"]:
        np.testing.assert_allclose(described["values"], getattr(module, described["name"]).numpy(), atol=1e-6)


def test_values_need_the_inference_token_and_the_summary_stays_open(make_app):
    client = make_app({"dense": None}, INFER_TOKEN="secret").test_client()
    assert client.get("/v2/models/dense/layers/dense1").status_code == 200
    assert client.get("/v2/models/dense/layers/dense1?values=false").status_code == 200
    refused = client.get("/v2/models/dense/layers/dense1?values=true")
    assert refused.status_code == 401
    assert "values" not in refused.get_data(as_text=True)
    wrong = client.get("/v2/models/dense/layers/dense1?values=true", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    given = client.get("/v2/models/dense/layers/dense1?values=true", headers={"Authorization": "Bearer secret"})
    assert given.status_code == 200
    assert "values" in given.get_json()["parameters"][0]


@pytest.mark.parametrize("query", ["", "?values=false"])
def test_no_values_unless_asked(client, query):
    dense1 = client.get(f"/v2/models/dense/layers/0{query}").get_json()
    bn1 = client.get(f"/v2/models/classifier/layers/bn1{query}").get_json()
    for described in dense1["parameters"] + bn1["parameters"] + bn1["buffers"]:
        assert "values" not in described
    for layer in layers_of(client, "classifier")["layers"]:
        assert all("values" not in t for t in layer["parameters"] + layer["buffers"])
