"""The client's retries of infer and predict, against a real local HTTP server that answers from a script.

Each script entry answers one request: "ok" (200 with an infer answer), a status code, a
status with a Retry-After, "drop" (the connection closes without an answer, as when a
worker is killed) or "truncate" (it closes halfway through the answer). The server records every request it got.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import requests
from layerserve_client import BadRequest, Client, ConnectionError, ModelNotFound, NotReady, ServerError
from layerserve_client.retry import Backoff

# One answer that serves as any call's: infer reads outputs, predict predictions, models models.
OK_ANSWER = {
    "predictions": [[1.0, 0.0]],
    "models": [],
    "model_name": "fold",
    "model_version": "1",
    "outputs": [{"name": "act", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 0.0]}],
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}],  # model metadata
}
X = {"x": np.array([[1.0, 0.0]], dtype=np.float32)}


class ScriptedServer:
    def __init__(self, script: list):
        self.script = list(script)
        self.requests: list[tuple[str, str, bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer()

            def do_POST(self):
                self._answer()

            def _answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append((self.command, self.path, body))
                action = server.script.pop(0) if server.script else "ok"
                if action == "drop":
                    self.close_connection = True
                    return
                if action == "truncate":  # the headers and part of the body, then the connection closes
                    self.close_connection = True
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    self.wfile.write(b'{"outputs": ')
                    return
                status, headers = (200, {}) if action == "ok" else action if isinstance(action, tuple) else (action, {})
                payload = OK_ANSWER if status == 200 else {"error": f"scripted {status}"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    servers = []

    def start(*script):
        servers.append(ScriptedServer(list(script)).__enter__())
        return servers[-1]

    yield start
    for server in servers:
        server.__exit__()


def fast_client(url, **kwargs):
    return Client(url, backoff=0.0, **kwargs)


def test_infer_survives_a_dropped_connection_and_a_503(scripted):
    server = scripted("drop", 503, "ok")
    with fast_client(server.url, inference_retries=2) as client:
        result = client.infer("fold", X, as_numpy=False)
    assert result["act"] == [[1.0, 0.0]]
    assert len(server.requests) == 3
    assert len({body for _, _, body in server.requests}) == 1  # the same request each time
    assert {(method, path) for method, path, _ in server.requests} == {("POST", "/v2/models/fold/infer")}


def test_an_answer_cut_off_halfway_is_a_connection_error_and_retried(scripted):
    server = scripted("truncate", "ok", "truncate", "truncate")
    with fast_client(server.url) as client:  # one retry by default
        assert client.infer("fold", X, as_numpy=False)["act"] == [[1.0, 0.0]]
        with pytest.raises(ConnectionError, match="broke during the answer"):
            client.infer("fold", X)
    assert len(server.requests) == 4


def test_the_metadata_a_nested_list_needs_is_retried_like_the_infer_call(scripted):
    server = scripted("drop", 503, "ok", "drop", "ok")
    with fast_client(server.url, inference_retries=2) as client:
        result = client.infer("fold", [[1, 0]], as_numpy=False)
    assert result["act"] == [[1.0, 0.0]]
    assert [(method, path) for method, path, _ in server.requests] == [
        *[("GET", "/v2/models/fold")] * 3,
        *[("POST", "/v2/models/fold/infer")] * 2,
    ]


def test_the_metadata_a_traced_nested_list_needs_is_retried_too(scripted):
    server = scripted("drop", "ok", "ok")
    with fast_client(server.url, inference_retries=1) as client:
        client.trace("fold", [[1, 0]])
    assert [(method, path) for method, path, _ in server.requests] == [
        *[("GET", "/v2/models/fold")] * 2,
        ("POST", "/v2/models/fold/trace"),
    ]


def test_predict_is_retried_and_other_calls_are_not(scripted):
    server = scripted(503, "drop", "ok", "drop", 503)
    with fast_client(server.url, inference_retries=2) as client:
        client.predict("fold", [[1, 0]])
        with pytest.raises(ConnectionError):
            client.models()
        with pytest.raises(NotReady):
            client.model_metadata("fold")
    assert [method for method, _, _ in server.requests] == ["POST"] * 3 + ["GET"] * 2


def test_a_503_that_lasts_raises_not_ready_after_every_attempt(scripted):
    server = scripted(503, 503, 503, 503)
    with fast_client(server.url, inference_retries=3) as client, pytest.raises(NotReady) as caught:
        client.infer("fold", X)
    assert caught.value.message == "scripted 503"
    assert len(server.requests) == 4


def test_a_dropped_connection_that_lasts_raises_connection_error(scripted):
    server = scripted("drop", "drop", "drop")
    with fast_client(server.url, inference_retries=2) as client, pytest.raises(ConnectionError) as caught:
        client.infer("fold", X)
    assert "(3 attempts)" in caught.value.message
    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert len(server.requests) == 3


@pytest.mark.parametrize(("status", "error"), [(400, BadRequest), (404, ModelNotFound), (500, ServerError)])
def test_other_errors_are_not_retried(scripted, status, error):
    server = scripted(status)
    with fast_client(server.url) as client, pytest.raises(error):
        client.infer("fold", X)
    assert len(server.requests) == 1


def test_probes_answer_a_503_at_once(scripted):
    server = scripted(503, 503, 503)
    with fast_client(server.url) as client:
        assert client.is_ready() is False
        assert client.is_model_ready("fold") is False
        assert client.is_live() is False
    assert len(server.requests) == 3


def test_retries_zero_sends_once(scripted):
    server = scripted(503, 503)
    with fast_client(server.url, inference_retries=0) as client, pytest.raises(NotReady):
        client.infer("fold", X)
    with fast_client(server.url) as client, pytest.raises(NotReady):
        client.infer("fold", X, retries=0)  # per call
    assert len(server.requests) == 2


def test_a_retry_after_header_is_followed(scripted):
    server = scripted((503, {"Retry-After": "0"}), "ok")
    with Client(server.url, backoff=0.0, backoff_max=0.0) as client:
        assert client.infer("fold", X, as_numpy=False)["act"] == [[1.0, 0.0]]
    assert len(server.requests) == 2


def test_the_backoff_doubles_up_to_its_cap():
    backoff = Backoff(backoff=0.1, backoff_max=0.5)
    assert [backoff.delay(n) for n in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


@pytest.mark.parametrize(("header", "expected"), [("1.5", 1.5), ("0", 0.25), ("30", 2.0), ("soon", 0.25), ("-3", 0.25)])
def test_retry_after_lengthens_the_wait_within_the_cap(header, expected):
    response = requests.Response()
    response.headers["Retry-After"] = header
    assert Backoff(backoff=0.25, backoff_max=2.0).delay(0, response) == expected


@pytest.mark.parametrize("setting", [{"inference_retries": -1}, {"backoff": -0.1}, {"backoff_max": -1}])
def test_negative_settings_are_refused(setting):
    with pytest.raises(ValueError, match="must not be negative"):
        Client(**setting)
