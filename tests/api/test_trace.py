"""Trace and activation health: the inside of a model, as the endpoints show it."""

import math

import numpy as np
import pytest

from .helpers import app_over, error_of, infer_body, write_models

DENSE_POINT = infer_body("point", [[0.5, 1.0]])


def trace(client, model, body):
    response = client.post(f"/v2/models/{model}/trace", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def layer(document, name):
    (found,) = [layer for layer in document["layers"] if layer["name"] == name]
    return found


def step(layer_document, name):
    (found,) = [s for s in layer_document["steps"] if s["name"] == name]
    return found["data"]


def test_dense_trace_reads_like_the_worked_example(client):
    document = trace(client, "dense", DENSE_POINT)
    dense = layer(document, "dense1")
    assert step(dense, "product") == pytest.approx([-0.8, 0.6, 0.15], abs=1e-6)
    assert step(dense, "bias") == pytest.approx([2.0, 3.0, 0.5])
    assert step(dense, "output") == pytest.approx([1.2, 3.6, 0.65], abs=1e-6)
    relu = layer(document, "activation1")
    assert relu["output"]["data"] == pytest.approx([1.2, 3.6, 0.65], abs=1e-6)
    assert relu["input_shapes"] == [[1, 3]] and relu["output"]["shape"] == [1, 3]
    assert [entry["name"] for entry in document["layers"]] == ["dense1", "activation1"]


def test_fold_trace_shows_the_linear_step_and_the_fold(client):
    document = trace(client, "fold", infer_body("x", [[1, 0], [0, 1], [1, 1]]))
    assert layer(document, "linear")["output"]["data"] == [1, -0.5, 0.5, 1, 1.5, 0.5]
    act = layer(document, "act")
    assert act["output"]["data"] == [1, 0, 0.5, 1, 1.5, 0.5]
    assert act["health"]["rule"] == "zero"
    assert act["health"]["per_neuron"] == pytest.approx([0.0, 1 / 3])
    assert act["health"]["dead"] == 0 and act["health"]["fraction"] == pytest.approx(1 / 6)


def test_statistics_cover_the_whole_batch(client):
    document = trace(client, "fold", infer_body("x", [[1, 0], [0, 1], [1, 1]]))
    values = np.array([1, -0.5, 0.5, 1, 1.5, 0.5])
    stats = layer(document, "linear")["stats"]
    assert stats["min"] == -0.5 and stats["max"] == 1.5
    assert stats["mean"] == pytest.approx(values.mean()) and stats["std"] == pytest.approx(values.std())
    assert stats["nan"] == 0 and stats["inf"] == 0


@pytest.mark.parametrize("model", ["fold", "recipe", "dense", "sine", "matcher", "classifier", "sharpen"])
def test_the_trace_agrees_with_infer(client, model):
    metadata = client.get(f"/v2/models/{model}").get_json()
    rng = np.random.default_rng(0)
    inputs = []
    for spec in metadata["inputs"]:
        shape = [4, *spec["shape"][1:]]
        inputs.append(
            {"name": spec["name"], "shape": shape, "datatype": "FP32", "data": rng.random(shape).ravel().tolist()}
        )
    traced = trace(client, model, {"inputs": inputs})
    served = client.post(f"/v2/models/{model}/infer", json={"inputs": inputs}).get_json()
    for from_trace, from_infer in zip(traced["outputs"], served["outputs"]):
        assert from_trace["name"] == from_infer["name"]
        assert np.allclose(from_trace["data"], from_infer["data"], rtol=1e-5, atol=1e-6)


def test_the_trace_shows_declared_layers_even_where_serving_fuses_them(client):
    layers = client.get("/v2/models/classifier/layers").get_json()
    assert len(layers["serving_path"]) < len(layers["layers"])
    traced = trace(client, "classifier", infer_body("image", np.zeros((1, 1, 28, 28)).tolist()))
    assert [entry["name"] for entry in traced["layers"]] == [entry["name"] for entry in layers["layers"]]


def test_large_outputs_are_bounded_but_statistics_are_not(tmp_path):
    models = write_models(tmp_path, {"sine": None})
    client = app_over(models, TRACE_MAX_VALUES=10).test_client()
    xs = np.linspace(0, 2 * math.pi, 50, dtype=np.float32)
    document = trace(client, "sine", infer_body("x", xs.reshape(50, 1).tolist()))
    ramp = layer(document, "ramp_act")
    assert ramp["output"]["shape"] == [50, 67]
    assert len(ramp["output"]["data"]) == 10 and ramp["output"]["truncated"]
    assert ramp["stats"]["max"] == pytest.approx(2 * math.pi, rel=1e-6)  # the ramp x - k_0 at x = 2π
    assert len(ramp["health"]["per_neuron"]) == 10 and ramp["health"]["neurons"] == 67
    assert document["max_values"] == 10


def test_a_dead_relu_is_counted(tmp_path):
    models = write_models(
        tmp_path,
        {
            "dying": "inputs: [{name: x, shape: [2]}]\n"
            "layers:\n"
            "  - {name: fc, type: Linear, out_features: 2, weight: [[1.0, 0.0], [-1.0, -1.0]], bias: [0.0, -5.0]}\n"
            "  - {name: act, type: ReLU}\n"
        },
    )
    client = app_over(models, HEALTH_SAMPLE_EVERY=1).test_client()
    body = infer_body("x", [[1, 1], [2, 0], [0.5, 3]])
    health = layer(trace(client, "dying", body), "act")["health"]
    assert health["dead"] == 1 and health["per_neuron"] == [0.0, 1.0]
    for _ in range(4):
        assert client.post("/v2/models/dying/infer", json=body).status_code == 200
    running = client.get("/v2/models/dying/health").get_json()
    assert running["samples"] == 12 and running["forward_passes"] == 4
    (act,) = running["layers"]
    assert (act["name"], act["dead"], act["per_neuron"], act["fraction"]) == ("act", 1, [0.0, 1.0], 0.5)


def test_saturated_sigmoid_and_tanh_are_counted(tmp_path):
    models = write_models(
        tmp_path,
        {
            "squash": "inputs: [{name: x, shape: [1]}]\n"
            "layers:\n"
            "  - {name: sig, type: Sigmoid}\n"
            "  - {name: th, type: Tanh, inputs: [x]}\n"
            "outputs: [sig, th]\n"
        },
    )
    client = app_over(models).test_client()
    document = trace(client, "squash", infer_body("x", [[-10.0], [0.0], [0.1], [10.0]]))
    assert layer(document, "sig")["health"]["fraction"] == pytest.approx(0.5)
    assert layer(document, "th")["health"]["fraction"] == pytest.approx(0.5)
    assert layer(document, "sig")["health"]["saturated"] == 0


def test_clamps_saturate_exactly_at_a_bound_and_cut_offs_are_dead_at_their_value(tmp_path):
    models = write_models(
        tmp_path,
        {
            "clamps": "inputs: [{name: x, shape: [1]}]\n"
            "layers:\n"
            "  - {name: relu6, type: ReLU6}\n"
            "  - {name: hardtanh, type: Hardtanh, min_val: -2.0, max_val: 0.5, inputs: [x]}\n"
            "  - {name: hardsigmoid, type: Hardsigmoid, inputs: [x]}\n"
            "  - {name: threshold, type: Threshold, threshold: 0.0, value: -7.0, inputs: [x]}\n"
            "  - {name: hardshrink, type: Hardshrink, inputs: [x]}\n"
            "  - {name: softsign, type: Softsign, inputs: [x]}\n"
            "outputs: [relu6, hardtanh, hardsigmoid, threshold, hardshrink, softsign]\n"
        },
    )
    client = app_over(models).test_client()
    xs = [-100.0, -3.0, -2.0, -0.3, 0.0, 0.3, 0.5, 5.99, 6.0, 100.0]
    document = trace(client, "clamps", infer_body("x", [[x] for x in xs]))
    health = {entry["name"]: entry.get("health") for entry in document["layers"]}
    # at or beyond a bound, not near it: 5.99 and -0.3 are not saturated for ReLU6
    assert health["relu6"]["rule"] == "saturation" and health["relu6"]["fraction"] == pytest.approx(7 / 10)
    assert health["hardtanh"]["fraction"] == pytest.approx(7 / 10)  # ≤ -2 (3), ≥ 0.5 (4)
    assert health["hardsigmoid"]["fraction"] == pytest.approx(5 / 10)  # ≤ -3 (2), ≥ 3 (3)
    assert health["threshold"]["rule"] == "zero" and health["threshold"]["fraction"] == pytest.approx(5 / 10)
    assert health["hardshrink"]["fraction"] == pytest.approx(4 / 10)  # |x| ≤ 0.5
    assert health["softsign"]["fraction"] == pytest.approx(2 / 10)  # |x| ≥ 49
    assert health["threshold"]["dead"] == 0 and health["softsign"]["saturated"] == 0


def test_health_sampling_can_be_switched_off(tmp_path):
    client = app_over(write_models(tmp_path, {"fold": None}), HEALTH_SAMPLE_EVERY=0).test_client()
    client.post("/v2/models/fold/infer", json=infer_body("x", [[1, 0]]))
    report = client.get("/v2/models/fold/health").get_json()
    assert report["samples"] == 0 and report["sample_every"] == 0


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v2/models/nope/trace", DENSE_POINT, 404, "unknown model 'nope'"),
        ("/v2/models/dense/trace", infer_body("point", [[0.5, 1.0, 2.0]]), 400, "expected shape [-1, 2]"),
        ("/v2/models/dense/trace", {"inptus": []}, 400, "inptus: Unknown field"),
        ("/v2/models/dense/versions/7/trace", DENSE_POINT, 404, "has no version '7'"),
    ],
)
def test_bad_trace_requests(client, path, body, status, fragment):
    response = client.post(path, json=body)
    assert response.status_code == status
    assert fragment in error_of(response)


def test_layers_report_bytes_and_multiply_adds(client):
    described = client.get("/v2/models/classifier/layers").get_json()
    by_name = {entry["name"]: entry for entry in described["layers"]}
    assert by_name["fc1"]["macs"] == 784 * 128 and by_name["fc1"]["parameter_bytes"] == (784 * 128 + 128) * 4
    assert by_name["bn1"]["macs"] == 128 and by_name["act1"]["macs"] == 0
    assert described["macs"] == sum(entry["macs"] for entry in described["layers"])
    assert described["parameter_bytes"] == 4 * described["parameter_count"]
    matcher = client.get("/v2/models/matcher/layers").get_json()
    assert matcher["layers"][0]["macs"] == 5 * 4 * 3


def test_the_trace_returns_only_the_outputs_asked_for(tmp_path):
    models = write_models(
        tmp_path,
        {
            "two": "inputs: [{name: x, shape: [2]}]\nlayers:\n  - {name: a, type: ReLU}\n  - {name: b, type: Tanh}\noutputs: [a, b]\n"
        },
    )
    client = app_over(models).test_client()
    document = trace(client, "two", {**infer_body("x", [[1.0, -1.0]]), "outputs": [{"name": "b"}]})
    assert [output["name"] for output in document["outputs"]] == ["b"]
    assert len(document["layers"]) == 2
    response = client.post("/v2/models/two/trace", json={**infer_body("x", [[1.0, -1.0]]), "outputs": [{"name": "c"}]})
    assert response.status_code == 400 and "has no output 'c'" in error_of(response)
