"""layerserve_client against a real server serving the bundled example models."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import layerserve_client
import numpy as np
import pytest
import requests
from layerserve_client import (
    BadRequest,
    Client,
    ConnectionError,
    HTTPError,
    InvalidInput,
    LayerserveError,
    ModelNotFound,
    NotReady,
    Timeout,
)
from requests.adapters import BaseAdapter

pytestmark = pytest.mark.integration

TOLERANCE = 1e-6
FOLD_X = [[1, 0], [0, 1], [1, 1]]
FOLD_EXPECTED = [[1, 0], [0.5, 1], [1.5, 0.5]]
EXAMPLE_MODELS = {"fold", "recipe", "dense", "matcher"}


@pytest.fixture
def client(live_server):
    with Client(live_server) as client:
        yield client


@pytest.fixture
def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_rows_close(actual, expected):
    assert len(actual) == len(expected)
    for actual_row, expected_row in zip(actual, expected, strict=True):
        assert actual_row == pytest.approx(expected_row, abs=TOLERANCE)


def numbers_in(document):
    """Every number anywhere in a decoded JSON document."""
    if isinstance(document, dict):
        return [n for value in document.values() for n in numbers_in(value)]
    if isinstance(document, list):
        return [n for value in document for n in numbers_in(value)]
    is_number = isinstance(document, int | float) and not isinstance(document, bool)
    return [document] if is_number else []


# Server and models


def test_server_is_live_and_ready(client):
    assert client.is_live() is True
    assert client.is_ready() is True


def test_server_metadata_names_the_server(client):
    assert "name" in client.server_metadata()


def test_models_lists_the_examples_all_ready(client):
    models = {model["name"]: model for model in client.models()}
    assert set(models) >= EXAMPLE_MODELS
    for name in EXAMPLE_MODELS:
        assert set(models[name]) >= {"name", "versions", "ready", "state", "reason"}
        assert models[name]["ready"] is True


def test_fold_metadata_declares_its_input(client):
    assert client.model_metadata("fold")["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]


def test_model_metadata_by_listed_version(client):
    (fold,) = [model for model in client.models() if model["name"] == "fold"]
    version = fold["versions"][0]
    assert client.model_metadata("fold", version=version)["name"] == "fold"
    assert client.is_model_ready("fold", version=version) is True


def test_is_model_ready_for_an_example(client):
    assert client.is_model_ready("fold") is True


def test_dense_layers_have_names_and_types(client):
    layers = client.layers("dense")["layers"]
    assert [(layer["name"], layer["type"]) for layer in layers] == [("dense1", "Dense"), ("activation1", "ReLU")]


def test_dense_layer_by_index_with_values_includes_its_parameters(client):
    layer = client.layer("dense", 0, values=True)
    assert layer["name"] == "dense1"
    numbers = numbers_in(layer)
    for parameter in (0.2, 0.8, -0.5, -0.9, 0.2, 0.4, 2.0, 3.0, 0.5):
        assert any(n == pytest.approx(parameter, abs=TOLERANCE) for n in numbers), parameter


def test_layer_by_name_matches_layer_by_index(client):
    assert client.layer("dense", "activation1") == client.layer("dense", 1)


# Inference


def test_fold_numpy_in_numpy_out(client):
    result = client.infer("fold", {"x": np.array(FOLD_X, dtype=np.float32)})
    act = result["act"]
    assert isinstance(act, np.ndarray)
    assert act.shape == (3, 2)
    assert act == pytest.approx(np.array(FOLD_EXPECTED), abs=TOLERANCE)
    assert result.model_name == "fold"
    assert list(result.outputs) == ["act"]


def test_fold_single_list_in_nested_lists_out(client):
    result = client.infer("fold", FOLD_X, as_numpy=False)
    act = result.output()
    assert isinstance(act, list)
    assert all(isinstance(row, list) for row in act)
    assert_rows_close(act, FOLD_EXPECTED)
    assert result.raw["outputs"][0]["name"] == "act"


def test_fold_requested_output_and_request_id(client):
    result = client.infer("fold", {"x": FOLD_X}, outputs=["act"], request_id="req-42")
    assert list(result.outputs) == ["act"]
    assert result.id == "req-42"


def test_recipe_mixes_ingredients(client):
    result = client.infer("recipe", [[1, 2, 3]])
    assert result["linear"].tolist() == [pytest.approx([1.8, 2.6], abs=TOLERANCE)]


def test_dense_maps_the_point(client):
    result = client.infer("dense", np.array([[0.5, 1.0]], dtype=np.float32))
    assert result.output().tolist() == [pytest.approx([1.2, 3.6, 0.65], abs=TOLERANCE)]


def test_review_takes_indices_as_lists_or_int64_arrays(client):
    from_lists = client.infer("review", [[2, 5, 0, 0], [4, 1, 5, 0]]).output()  # INT64 from the metadata
    from_array = client.infer("review", np.array([[2, 5, 0, 0], [4, 1, 5, 0]], dtype=np.int64)).output()
    assert from_lists.tolist() == from_array.tolist()
    assert from_lists.ravel().tolist() == pytest.approx([0.9640276, -0.7615942], abs=TOLERANCE)
    with pytest.raises(BadRequest, match="index 6 is out of range for layer 'scores', which has 6 embeddings"):
        client.infer("review", [[6, 0, 0, 0]])


def test_matcher_relates_two_named_inputs(client):
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((4, 5)).astype(np.float32)
    x2 = rng.standard_normal((4, 4)).astype(np.float32)
    from_arrays = client.infer("matcher", {"x1": x1, "x2": x2}).output()
    from_lists = client.infer("matcher", {"x1": x1.tolist(), "x2": x2.tolist()}, as_numpy=False).output()
    assert from_arrays.shape == (4, 3)
    assert_rows_close(from_lists, from_arrays.tolist())


def test_matcher_rejects_a_lone_input(client):
    with pytest.raises(InvalidInput, match="2 inputs"):
        client.infer("matcher", [[1, 2, 3, 4, 5]])


def test_single_input_metadata_is_fetched_once(live_server):
    session = requests.Session()
    metadata_requests = []

    def count_metadata(response, *args, **kwargs):
        if response.request.method == "GET" and response.request.path_url == "/v2/models/recipe":
            metadata_requests.append(response.request.path_url)

    session.hooks["response"].append(count_metadata)
    with session, Client(live_server, session=session) as client:
        client.infer("recipe", [[1, 2, 3]])
        client.infer("recipe", [[3, 2, 1]])
    assert metadata_requests == ["/v2/models/recipe"]


def test_trace_fold_shows_each_declared_layer(client):
    traced = client.trace("fold", np.array(FOLD_X, dtype=np.float32))
    assert [layer["name"] for layer in traced["layers"]] == ["linear", "act"]
    assert traced["layers"][0]["output"]["data"] == [1, -0.5, 0.5, 1, 1.5, 0.5]  # before the fold
    assert traced["outputs"][0]["data"] == [value for row in FOLD_EXPECTED for value in row]


def test_predict_recipe(client):
    assert_rows_close(client.predict("recipe", [[1, 2, 3]]), [[1.8, 2.6]])


def test_predict_accepts_numpy(client):
    assert_rows_close(client.predict("recipe", np.array([[1, 2, 3]], dtype=np.float32)), [[1.8, 2.6]])


def test_per_call_timeout_override(client):
    assert client.is_live(timeout=5) is True


# Errors


def test_unknown_model_is_model_not_found(client):
    with pytest.raises(ModelNotFound) as caught:
        client.infer("no-such-model", {"x": [[1.0, 2.0]]})
    error = caught.value
    assert error.status_code == 404
    assert "no-such-model" in error.message
    assert isinstance(error, LookupError)
    assert isinstance(error, HTTPError)
    assert error.response is not None
    assert "404" in str(error) and "no-such-model" in str(error)


def test_unknown_model_metadata_and_readiness_raise(client):
    with pytest.raises(ModelNotFound, match="no-such-model"):
        client.model_metadata("no-such-model")
    with pytest.raises(ModelNotFound, match="no-such-model"):
        client.is_model_ready("no-such-model")


def test_unknown_layer_is_not_found(client):
    with pytest.raises(ModelNotFound) as caught:
        client.layer("dense", "no-such-layer")
    assert caught.value.status_code == 404


def test_wrong_shape_is_bad_request(client):
    with pytest.raises(BadRequest) as caught:
        client.infer("fold", {"x": np.zeros((3, 3), dtype=np.float32)})
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.status_code == 400
    assert error.message


def test_ragged_list_is_rejected_before_any_request(closed_port_url):
    # A request to the closed port would raise ConnectionError, not InvalidInput.
    with Client(closed_port_url) as client:
        with pytest.raises(InvalidInput) as caught:
            client.infer("fold", {"x": [[1, 0], [1]]})
        with pytest.raises(InvalidInput):
            client.infer("fold", [[1, 0], [1]])
    assert isinstance(caught.value, ValueError)
    assert caught.value.response is None


def test_closed_port_is_connection_error(closed_port_url):
    with Client(closed_port_url) as client:
        with pytest.raises(ConnectionError) as caught:
            client.models()
        with pytest.raises(ConnectionError):
            client.is_ready()
    assert isinstance(caught.value, LayerserveError)
    assert caught.value.response is None


def test_silent_server_is_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with Client(silent_url, timeout=0.2) as client, pytest.raises(Timeout):
            client.is_live()


class StatusAdapter(BaseAdapter):
    """Answers every request with one status and JSON error body, as a server that is starting up."""

    def __init__(self, status, error):
        super().__init__()
        self.status, self.error = status, error

    def send(self, request, **kwargs):
        response = requests.Response()
        response.status_code = self.status
        response.reason = "Service Unavailable"
        response._content = json.dumps({"error": self.error}).encode()
        response.headers["Content-Type"] = "application/json"
        response.request, response.url = request, request.url
        return response

    def close(self):
        pass


def test_not_ready_is_false_from_probes_and_an_error_elsewhere():
    session = requests.Session()
    session.mount("http://starting/", StatusAdapter(503, "models are still loading"))
    with session, Client("http://starting", session=session) as client:
        assert client.is_ready() is False
        assert client.is_live() is False
        assert client.is_model_ready("fold") is False
        with pytest.raises(NotReady) as caught:
            client.models()
    assert caught.value.status_code == 503
    assert caught.value.message == "models are still loading"


# Import without numpy

NO_NUMPY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["numpy"] = None
    from layerserve_client import Client
    with Client(sys.argv[1]) as client:
        result = client.infer("fold", {"x": [[1, 0], [0, 1], [1, 1]]})
    print(json.dumps(result["act"]))
    """
)


def run_python(script, *args):
    client_dir = Path(layerserve_client.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(client_dir), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=60, check=True
    )


def test_client_works_with_only_requests(live_server):
    completed = run_python(NO_NUMPY_SCRIPT, live_server)
    assert_rows_close(json.loads(completed.stdout), FOLD_EXPECTED)


def test_importing_the_client_does_not_import_numpy():
    script = "import sys, layerserve_client; print('numpy' in sys.modules)"
    assert run_python(script).stdout.strip() == "False"


BROKEN_BODY = requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
DROPPED_CONNECTION = requests.ConnectionError("Connection aborted: RemoteDisconnected")


class BreaksOffAdapter(BaseAdapter):
    """The first `breaks` answers fail as when their server dies (by default, the body breaks
    off), then an answer comes."""

    def __init__(self, breaks, error=BROKEN_BODY):
        super().__init__()
        self.breaks, self.error, self.sent = breaks, error, 0

    def send(self, request, **kwargs):
        self.sent += 1
        if self.sent <= self.breaks:
            raise self.error
        response = requests.Response()
        response.status_code, response.reason = 200, "OK"
        body = {"model_name": "fold", "model_version": "1", "outputs": [], "predictions": [[1.0]], "models": []}
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.request, response.url = request, request.url
        return response

    def close(self):
        pass


FOLD_INPUTS = {"x": np.zeros((1, 2), dtype=np.float32)}  # name and datatype given: no metadata request


def client_over(adapter, **kwargs) -> Client:
    session = requests.Session()
    session.mount("http://flaky/", adapter)
    return Client("http://flaky", session=session, **kwargs)


@pytest.mark.parametrize("error", [BROKEN_BODY, DROPPED_CONNECTION], ids=["body-broke-off", "connection-dropped"])
def test_inference_whose_connection_broke_is_sent_again(error):
    adapter = BreaksOffAdapter(breaks=1, error=error)
    with client_over(adapter) as client:
        client.infer("fold", FOLD_INPUTS, as_numpy=False)
        assert adapter.sent == 2
        client.predict("fold", [[0.0, 0.0]])
        assert adapter.sent == 3


def test_retries_are_bounded_and_only_for_inference():
    adapter = BreaksOffAdapter(breaks=2)
    with client_over(adapter) as client, pytest.raises(LayerserveError, match="broken"):
        client.infer("fold", FOLD_INPUTS)
    assert adapter.sent == 2  # one try and one retry
    adapter = BreaksOffAdapter(breaks=1)
    with client_over(adapter) as client, pytest.raises(LayerserveError):
        client.models()
    assert adapter.sent == 1
    adapter = BreaksOffAdapter(breaks=1)
    with client_over(adapter, inference_retries=0) as client, pytest.raises(LayerserveError):
        client.infer("fold", FOLD_INPUTS)
    assert adapter.sent == 1
    adapter = BreaksOffAdapter(breaks=1)
    with client_over(adapter) as client, pytest.raises(LayerserveError):
        client.infer("fold", FOLD_INPUTS, retries=0)
    assert adapter.sent == 1
