"""Open Inference Protocol endpoints over the bundled models: health, metadata, readiness, inference."""

import math
import re

import numpy as np
import pytest
import yaml

from service import __version__

from .helpers import MODELS, REQUEST_ID, app_over, error_of, infer_body, output, tensor

BUNDLED = sorted(p.name for p in MODELS.iterdir() if (p / "model.yaml").is_file())


def definition(name: str) -> dict:
    return yaml.safe_load((MODELS / name / "model.yaml").read_text(encoding="utf-8"))


def infer(client, model: str, body: dict, path: str = ""):
    return client.post(f"/v2/models/{model}{path}/infer", json=body)


def approx(values):
    return pytest.approx(values, rel=1e-6, abs=1e-6)


# --- server and health ------------------------------------------------------------------------


def test_server_metadata(client):
    assert client.get("/v2").get_json() == {
        "name": "layerserve",
        "version": __version__,
        "extensions": ["binary_tensor_data", "layers", "trace"],
    }


def test_the_repository_extension_is_advertised_only_when_its_endpoints_are_enabled(model_folders):
    app = app_over(model_folders(fold=None), ADMIN_TOKEN="secret")
    extensions = app.test_client().get("/v2").get_json()["extensions"]
    assert extensions == ["binary_tensor_data", "model_repository", "layers", "trace"]


@pytest.mark.parametrize(
    "path",
    [
        "/v2/",
        "/v2/health/live/",
        "/v2/health/ready/",
        "/v2/models/",
        "/v2/models/fold/",
        "/v2/models/fold/ready/",
        "/v2/models/fold/versions/1/",
        "/v2/models/fold/layers/",
        "/v2/models/fold/layers/0/",
    ],
)
def test_a_trailing_slash_is_answered_like_the_path_without_it(client, path):
    with_slash, without = client.get(path), client.get(path.rstrip("/"))
    assert with_slash.status_code == 200
    assert with_slash.get_json() == without.get_json()


@pytest.mark.parametrize(
    "path", ["/v2/models/fold/infer/", "/v2/models/fold/versions/1/infer/", "/v2/models/fold/trace/"]
)
def test_inference_answers_with_a_trailing_slash_too(client, path):
    response = client.post(path, json=infer_body("x", [[1.0, 0.0]]))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["outputs"][0]["data"][:2] == [1.0, 0.0]


def test_v1_predict_answers_with_a_trailing_slash(client):
    response = client.post("/v1/models/fold:predict/", json={"instances": [[1.0, 0.0]]})
    assert (response.status_code, response.get_json()) == (200, {"predictions": [[1.0, 0.0]]})


def test_live(client):
    response = client.get("/v2/health/live")
    assert (response.status_code, response.get_json()) == (200, {"live": True})


def test_ready(client):
    response = client.get("/v2/health/ready")
    assert (response.status_code, response.get_json()) == (200, {"ready": True})


def test_models_lists_every_bundled_folder_ready(client):
    models = client.get("/v2/models").get_json()["models"]
    assert [m["name"] for m in models] == BUNDLED
    for listing in models:
        assert listing == {
            "name": listing["name"],
            "versions": [str(definition(listing["name"]).get("version", 1))],
            "platform": "layerserve",
            "state": "READY",
            "ready": True,
            "reason": None,
        }


# --- model metadata and versions --------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLED)
def test_model_metadata_matches_the_definition(client, name):
    declared = definition(name)
    metadata = client.get(f"/v2/models/{name}").get_json()
    assert metadata["name"] == name
    assert metadata["versions"] == [str(declared.get("version", 1))]
    assert metadata["platform"] == "layerserve"
    assert metadata["description"] == declared["description"]
    datatypes = {None: "FP32", "int64": "INT64", "int32": "INT32"}  # index inputs declare theirs
    assert metadata["inputs"] == [
        {"name": i["name"], "datatype": datatypes[i.get("dtype")], "shape": [-1, *i["shape"]]}
        for i in declared["inputs"]
    ]
    outputs = declared.get("outputs") or [declared["layers"][-1]["name"]]
    assert [o["name"] for o in metadata["outputs"]] == outputs
    for described in metadata["outputs"]:
        assert described["datatype"] == "FP32"
        assert described["shape"][0] == -1


def test_output_shapes_follow_the_layers(client):
    assert client.get("/v2/models/dense").get_json()["outputs"] == [
        {"name": "activation1", "datatype": "FP32", "shape": [-1, 3]}
    ]
    assert client.get("/v2/models/classifier").get_json()["outputs"][0]["shape"] == [-1, 10]


def test_version_1_routes_serve_the_model(client):
    assert client.get("/v2/models/fold/versions/1").get_json() == client.get("/v2/models/fold").get_json()
    assert client.get("/v2/models/fold/versions/1/ready").get_json() == {"name": "fold", "ready": True}
    versioned = infer(client, "fold", infer_body("x", [[1.0, 1.0]]), "/versions/1")
    assert versioned.get_json()["model_version"] == "1"
    assert output(versioned, "act")["data"] == approx([1.5, 0.5])


@pytest.mark.parametrize("path", ["", "/ready", "/layers"])
def test_version_2_is_not_found_naming_the_versions(client, path):
    response = client.get(f"/v2/models/fold/versions/2{path}")
    assert response.status_code == 404
    assert error_of(response) == "model 'fold' has no version '2'; versions: 1"


def test_version_2_infer_is_not_found(client):
    response = infer(client, "fold", infer_body("x", [[1.0, 1.0]]), "/versions/2")
    assert response.status_code == 404
    assert "versions: 1" in error_of(response)


@pytest.mark.parametrize("name", BUNDLED)
def test_model_ready(client, name):
    response = client.get(f"/v2/models/{name}/ready")
    assert (response.status_code, response.get_json()) == (200, {"name": name, "ready": True})


# --- inference: the seed numbers --------------------------------------------------------------


def test_fold(client):
    response = infer(client, "fold", infer_body("x", [[1, 0], [0, 1], [1, 1]]))
    body = response.get_json()
    assert (body["model_name"], body["model_version"]) == ("fold", "1")
    act = output(response, "act")
    assert (act["datatype"], act["shape"]) == ("FP32", [3, 2])
    assert act["data"] == approx([1, 0, 0.5, 1, 1.5, 0.5])


def test_recipe(client):
    linear = output(infer(client, "recipe", infer_body("ingredients", [[1, 2, 3]])), "linear")
    assert linear["shape"] == [1, 2]
    assert linear["data"] == approx([1.8, 2.6])


def test_dense(client):
    activation = output(infer(client, "dense", infer_body("point", [[0.5, 1.0]])), "activation1")
    assert activation["shape"] == [1, 3]
    assert activation["data"] == approx([1.2, 3.6, 0.65])


def test_sine_is_close_to_sin_across_its_range(client):
    xs = [0.0, 0.3, 1.0, math.pi / 2, 2.0, math.pi, 4.0, 3 * math.pi / 2, 5.5, 2 * math.pi]
    height = output(infer(client, "sine", infer_body("x", [[x] for x in xs])), "height")
    assert height["shape"] == [len(xs), 1]
    for x, y in zip(xs, height["data"], strict=True):
        assert abs(y - math.sin(x)) < 0.01, (x, y)


@pytest.mark.parametrize("batch", [1, 4])
def test_matcher_takes_two_inputs(client, batch):
    rng = np.random.default_rng(0)
    body = {
        "inputs": [
            tensor("x1", rng.normal(size=(batch, 5)).tolist()),
            tensor("x2", rng.normal(size=(batch, 4)).tolist()),
        ]
    }
    bilinear = output(infer(client, "matcher", body), "bilinear")
    assert bilinear["shape"] == [batch, 3]
    assert len(bilinear["data"]) == batch * 3
    assert all(math.isfinite(v) for v in bilinear["data"])


def test_matcher_inputs_may_come_in_any_order(client):
    x1, x2 = tensor("x1", [[1, 2, 3, 4, 5]]), tensor("x2", [[1, 0, -1, 2]])
    forward = output(infer(client, "matcher", {"inputs": [x1, x2]}), "bilinear")
    backward = output(infer(client, "matcher", {"inputs": [x2, x1]}), "bilinear")
    assert forward == backward


def test_classifier_rows_are_probabilities(client):
    images = np.random.default_rng(1).random((3, 1, 28, 28)).tolist()
    probs = output(infer(client, "classifier", infer_body("image", images)), "probs")
    assert probs["shape"] == [3, 10]
    rows = np.array(probs["data"]).reshape(3, 10)
    assert (rows >= 0).all()
    assert rows.sum(axis=1) == approx([1.0, 1.0, 1.0])


# --- inference: request forms ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "name", "nested"),
    [
        ("fold", "x", [[1, 0], [0, 1], [1, 1]]),
        ("classifier", "image", np.random.default_rng(2).random((2, 1, 28, 28)).round(3).tolist()),
    ],
)
def test_flat_and_nested_data_give_identical_results(client, model, name, nested):
    shape = list(np.shape(nested))
    flat = np.ravel(nested).tolist()
    from_nested = infer(client, model, infer_body(name, nested, shape)).get_json()
    from_flat = infer(client, model, infer_body(name, flat, shape)).get_json()
    assert from_flat == from_nested
    assert from_flat["outputs"][0]["shape"][0] == shape[0]


def test_integers_and_floats_are_both_numbers(client):
    as_ints = infer(client, "fold", infer_body("x", [[1, 1]])).get_json()
    as_floats = infer(client, "fold", infer_body("x", [[1.0, 1.0]])).get_json()
    assert as_ints == as_floats


def test_id_is_echoed(client):
    assert infer(client, "fold", infer_body("x", [[1, 0]], id="req-42")).get_json()["id"] == "req-42"


def test_no_id_none_echoed(client):
    assert "id" not in infer(client, "fold", infer_body("x", [[1, 0]])).get_json()


def test_requested_output_of_the_only_output(client):
    body = infer_body("x", [[1, 1]], outputs=[{"name": "act"}])
    assert [o["name"] for o in infer(client, "fold", body).get_json()["outputs"]] == ["act"]


TWO_OUTPUTS = """
inputs: [{name: x, shape: [2]}]
layers:
  - {name: linear, type: Linear, in_features: 2, out_features: 2, weight: [[1.0, 0.5], [-0.5, 1.0]], bias: [0.0, 0.0]}
  - {name: act, type: ReLU}
outputs: [linear, act]
"""


def test_requested_outputs_are_honoured(make_app):
    client = make_app({"twin": TWO_OUTPUTS}).test_client()
    x = infer_body("x", [[1, 0]])

    everything = infer(client, "twin", x).get_json()["outputs"]
    assert [o["name"] for o in everything] == ["linear", "act"]

    only_linear = infer(client, "twin", {**x, "outputs": [{"name": "linear"}]}).get_json()["outputs"]
    assert [(o["name"], o["data"]) for o in only_linear] == [("linear", approx([1.0, -0.5]))]

    reordered = infer(client, "twin", {**x, "outputs": [{"name": "act"}, {"name": "linear"}]}).get_json()["outputs"]
    assert [o["name"] for o in reordered] == ["act", "linear"]
    assert reordered[0]["data"] == approx([1.0, 0.0])


def test_v1_predict_agrees_with_v2_infer(client):
    rows = [[1, 0], [0, 1], [1, 1]]
    predictions = client.post("/v1/models/fold:predict", json={"instances": rows}).get_json()["predictions"]
    assert np.ravel(predictions).tolist() == output(infer(client, "fold", infer_body("x", rows)), "act")["data"]


def test_v1_predict_with_two_inputs(client):
    instances = [{"x1": [1, 2, 3, 4, 5], "x2": [1, 0, -1, 2]}] * 2
    predictions = client.post("/v1/models/matcher:predict", json={"instances": instances}).get_json()["predictions"]
    assert np.shape(predictions) == (2, 3)


# --- request ids -------------------------------------------------------------------------------


def test_request_id_is_echoed(client):
    response = client.get("/v2/health/live", headers={REQUEST_ID: "trace-123"})
    assert response.headers[REQUEST_ID] == "trace-123"


@pytest.mark.parametrize("incoming", [None, "", "x" * 129, "bad\x7fid"])
def test_request_id_is_generated_when_absent_or_unusable(client, incoming):
    headers = {} if incoming is None else {REQUEST_ID: incoming}
    generated = client.get("/v2/health/live", headers=headers).headers[REQUEST_ID]
    assert re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]+", generated)
    assert generated != client.get("/v2/health/live").headers[REQUEST_ID]


def test_request_id_is_in_error_bodies(client):
    given = client.post("/v2/models/nope/infer", json=infer_body("x", [[1, 0]]), headers={REQUEST_ID: "trace-9"})
    assert given.status_code == 404
    assert given.get_json()["request_id"] == "trace-9"
    generated = client.get("/no/such/route")
    error_of(generated)  # request_id in the body equals the generated header
    assert re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]+", generated.get_json()["request_id"])


def test_generated_request_ids_differ_between_worker_processes():
    import os

    from service.api.request_id import resolve_request_id

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: as a gunicorn worker after the fork
        os.write(write, resolve_request_id(None).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    parent = resolve_request_id(None)
    assert child.split("-")[0] != parent.split("-")[0]


def test_simple_protocol_prints_float32_in_shortest_form(client):
    response = client.post("/v1/models/recipe:predict", json={"instances": [[1, 2, 3]]})
    # float32 arithmetic gives 1.8000001; float64 printing of the same value would be 1.8000000715255737
    assert response.get_data(as_text=True) == '{"predictions":[[1.8000001,2.6000001]]}'
