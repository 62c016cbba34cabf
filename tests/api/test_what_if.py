"""What if: a trace with weights replaced or activations swapped, for that request only."""

import pytest
import torch

from .helpers import error_of, infer_body

POINT = infer_body("x", [[1.0, 0.0], [0.3, -0.7]])


def what_if(client, model="fold", body=POINT, **parameters):
    return client.post(f"/v2/models/{model}/trace", json={**body, "parameters": parameters})


def traced(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_a_replaced_weight_is_what_the_trace_computes_with(client):
    weight = [[0.25, -1.5], [2.0, 0.5]]
    document = traced(what_if(client, weights={"linear.weight": weight}))
    x = torch.tensor([[1.0, 0.0], [0.3, -0.7]])
    expected = torch.relu(torch.nn.functional.linear(x, torch.tensor(weight), torch.zeros(2)))
    assert document["outputs"][0]["data"] == pytest.approx(expected.flatten().tolist())
    linear = document["layers"][0]
    assert linear["overridden"] == ["weight"]
    assert linear["steps"][0]["name"] == "terms" and linear["steps"][0]["data"][:2] == [0.25, -0.0]
    assert document["overrides"] == {"weights": {"linear.weight": [2, 2]}, "activations": {}}


def test_the_lessons_swap_maps_1_0_to_0_1_and_leaves_the_model_as_declared(client):
    document = traced(what_if(client, weights={"linear.weight": [[0, 1], [1, 0]]}))
    assert document["outputs"][0]["data"][:2] == [0.0, 1.0]
    served = client.post("/v2/models/fold/infer", json=POINT).get_json()
    assert served["outputs"][0]["data"][:2] == [1.0, 0.0]
    plain = traced(client.post("/v2/models/fold/trace", json=POINT))
    assert plain["outputs"][0]["data"][:2] == [1.0, 0.0] and "overridden" not in plain["layers"][0]
    described = client.get("/v2/models/fold/layers/linear?values=true").get_json()
    assert described["parameters"][0]["values"] == [[1.0, 0.5], [-0.5, 1.0]]


@pytest.mark.parametrize("activation", ["Sigmoid", "Tanh", "LeakyReLU", "GELU"])
def test_a_swapped_activation_runs_as_the_other_type(client, activation):
    document = traced(what_if(client, activations={"act": activation}))
    act = document["layers"][1]
    assert (act["type"], act["declared_type"]) == (activation, "ReLU")
    expected = getattr(torch.nn, activation)()(torch.tensor([[1.0, -0.5], [-0.05, -0.85]]))
    assert act["output"]["data"] == pytest.approx(expected.flatten().tolist(), rel=1e-6)
    assert document["overrides"]["activations"] == {"act": {"declared": "ReLU", "used": activation}}
    assert act["formula"] != "max(0, x)"


def test_a_swapped_activation_is_judged_by_its_own_health_rule(client):
    sigmoid = traced(what_if(client, activations={"act": "Sigmoid"}))["layers"][1]
    assert sigmoid["health"]["rule"] == "saturation"
    leaky = traced(what_if(client, activations={"act": "LeakyReLU"}))["layers"][1]
    assert "health" not in leaky


def test_both_overrides_at_once_on_another_model(client):
    body = infer_body("point", [[0.5, 1.0]])
    document = traced(
        what_if(client, "dense", body, weights={"dense1.bias": [0, 0, 0]}, activations={"activation1": "Tanh"})
    )
    assert document["outputs"][0]["data"] == pytest.approx(
        torch.tanh(torch.tensor([-0.8, 0.6, 0.15])).tolist(), rel=1e-6
    )


@pytest.mark.parametrize(
    ("parameters", "fragment"),
    [
        (
            {"weights": {"linear.weight": [[0, 1]]}},
            "parameters.weights['linear.weight']: layer 'linear' weight has shape [2, 2], got values of shape [1, 2]",
        ),
        ({"weights": {"linear.weight": [[0, 1], [1]]}}, "expected numbers nested as shape [2, 2]"),
        ({"weights": {"linear.weight": [["a", 1], [1, 0]]}}, "expected numbers nested as shape [2, 2]"),
        ({"weights": {"linear.bias": "zero"}}, "expected numbers nested as shape [2]"),
        ({"weights": {"linear.bias": 0.5}}, "layer 'linear' bias has shape [2], got values of shape []"),
        ({"weights": {"linear.bias": [True, False]}}, "expected numbers nested as shape [2] (a boolean found)"),
        ({"weights": {"linear.bias": ["0.5", 1]}}, "expected numbers nested as shape [2] (a string found)"),
        ({"weights": {"linear.bias": "7"}}, "expected numbers nested as shape [2] (a string found)"),
        ({"weights": {"linear.bias": [None, 1]}}, "expected numbers nested as shape [2] (null found)"),
        (
            {"weights": {"linear.gamma": [1, 1]}},
            "layer 'linear' (Linear) has no tensor 'gamma'; its tensors: bias, weight",
        ),
        ({"weights": {"lin.weight": [1]}}, "model 'fold' has no layer 'lin'"),
        ({"weights": {"weight": [1]}}, "model 'fold' has no layer ''"),
        ({"weights": {"linear.weight": [[1e39, 0], [0, 1]]}}, "values must be finite numbers"),
        ({"weights": []}, "parameters.weights: Not a valid mapping type."),
        ({"activations": {"act": "Softmax"}}, "'Softmax' cannot stand in for ReLU ('act'); choose one of: CELU, ELU"),
        ({"activations": {"act": "Linear"}}, "'Linear' cannot stand in for ReLU"),
        ({"activations": {"act": "Nope"}}, "'Nope' cannot stand in for ReLU"),
        ({"activations": {"act": "Threshold"}}, "Threshold needs hyper-parameters (threshold, value)"),
        ({"activations": {"linear": "ReLU"}}, "layer 'linear' is a Linear, not an activation"),
        ({"activations": {"nope": "ReLU"}}, "parameters.activations['nope']: model 'fold' has no layer 'nope'"),
        ({"activations": {"act": 3}}, "parameters.activations.act.value: Not a valid string."),
        ({"terms": "yes"}, "parameters.terms: Not a valid boolean."),
    ],
)
def test_bad_overrides_are_refused_naming_the_layer_and_the_parameter(client, parameters, fragment):
    response = what_if(client, **parameters)
    assert response.status_code == 400
    assert fragment in error_of(response)


def test_a_replacement_is_bounded_by_the_trace_limit(make_app):
    client = make_app({"classifier": None}, TRACE_MAX_VALUES=100).test_client()
    body = infer_body("image", [[[[0.0] * 28] * 28]])
    response = what_if(client, "classifier", body, weights={"fc1.weight": [[0.0] * 784] * 128})
    assert response.status_code == 400
    assert (
        "layer 'fc1' weight has 100352 values; a what-if replaces at most 100 (LAYERSERVE_TRACE_MAX_VALUES)"
        in error_of(response)
    )
