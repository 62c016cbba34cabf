"""The layer registry is the one place a layer type is described: a type added to it, and to
nothing else, is served, traced, described and converted from torch.nn."""

import numpy as np
import pytest
import torch
from marshmallow import Schema
from torch import nn

from service.convert.sequential import convert_sequential
from service.stack.layers import LAYER_TYPES, LayerType, elementwise_macs, same_shape
from service.stack.params import finite_float
from service.stack.trace_steps import StepRule, TraceStep

from .helpers import app_over, error_of, infer_body, write_models


class Scale(nn.Module):
    """y = factor · x, a layer type no part of the service has heard of."""

    def __init__(self, factor=2.0):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


class ScaleParams(Schema):
    factor = finite_float(2.0)


def _scale_step(module):
    factor = np.float32(module.factor)
    return lambda x: x * factor


SCALE = LayerType(
    "Scale",
    Scale,
    ScaleParams,
    same_shape,
    family="activation",
    macs=elementwise_macs,
    numpy_step=_scale_step,
    trace=StepRule(("factor", "output"), lambda module, inputs, output, options: [
        TraceStep("factor", torch.tensor(module.factor), "a"),
        TraceStep("output", output, "a·x"),
    ]),
    formula="{factor}·x",
)  # fmt: skip

SCALED = "inputs: [{name: x, shape: [2]}]\nlayers:\n  - {name: triple, type: Scale, factor: 3.0}\n"


@pytest.fixture
def registered():
    LAYER_TYPES[SCALE.name] = SCALE
    yield SCALE
    del LAYER_TYPES[SCALE.name]


@pytest.fixture
def client(registered, tmp_path):
    """Warmed up with torch on one thread, as a worker serves by default: where numpy may serve."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield app_over(write_models(tmp_path / "models", {"scaled": SCALED})).test_client()
    finally:
        torch.set_num_threads(threads)


def test_a_registered_type_is_served_on_the_numpy_path(client):
    response = client.post("/v2/models/scaled/infer", json=infer_body("x", [[1.0, -2.0]]))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["outputs"][0]["data"] == [3.0, -6.0]
    assert client.get("/v2/models/scaled/layers").get_json()["serving_backend"] == "numpy"


def test_a_registered_type_is_traced_with_its_own_steps(client):
    response = client.post("/v2/models/scaled/trace", json=infer_body("x", [[1.0, -2.0]]))
    assert response.status_code == 200, response.get_json()
    (layer,) = response.get_json()["layers"]
    assert (layer["type"], layer["family"]) == ("Scale", "activation")
    assert [(step["name"], step["data"]) for step in layer["steps"]] == [("factor", [3.0]), ("output", [3.0, -6.0])]
    assert layer["formula"] == "3.0·x"


def test_a_registered_type_is_described(client):
    (layer,) = client.get("/v2/models/scaled/layers").get_json()["layers"]
    assert (layer["type"], layer["family"], layer["hyperparameters"], layer["macs"]) == (
        "Scale",
        "activation",
        {"factor": 3.0},
        2,
    )
    types = {entry["name"]: entry for entry in client.get("/v2/layer-types").get_json()["layer_types"]}
    assert types["Scale"]["hyperparameters"] == [{"name": "factor", "required": False, "default": 2.0}]
    assert types["Scale"]["trace_steps"] == ["factor", "output"] and types["Scale"]["numpy_step"]


def test_a_registered_type_converts_from_torch(registered):
    converted = convert_sequential(nn.Sequential(Scale(0.5)), "halve", input_shape=(4,))
    assert converted.document["layers"] == [{"name": "scale_0", "type": "Scale", "factor": 0.5}]


def test_once_removed_it_is_unknown_again(tmp_path):
    assert "Scale" not in LAYER_TYPES
    client = app_over(write_models(tmp_path / "models", {"scaled": SCALED})).test_client()
    response = client.get("/v2/models/scaled")
    assert response.status_code == 503 and "unknown layer type 'Scale'" in error_of(response)
    names = [entry["name"] for entry in client.get("/v2/layer-types").get_json()["layer_types"]]
    assert "Scale" not in names and "Linear" in names
