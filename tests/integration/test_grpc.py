"""The Open Inference Protocol over gRPC, from tritonclient's gRPC client as shipped, against a real
gunicorn server: health, metadata, inference (raw and typed contents), the token, and errors."""

import json
import shutil
import signal
import socket
import time
import urllib.parse

import grpc
import hpack
import numpy as np
import psutil
import pytest
import requests
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from .conftest import ROOT, ServerProcess, free_port
from .test_server import add_broken_model

pytestmark = pytest.mark.integration

TOKEN = "grpc-test-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
MAX_BATCH = 8
MAX_BODY_BYTES = 64 * 1024
DEADLINE_S = 30.0


def wait_for_grpc(target: str) -> triton.InferenceServerClient:
    """The workers start gRPC after their warm-up; poll until one answers."""
    client = triton.InferenceServerClient(target)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            if client.is_server_live():
                return client
        except InferenceServerException:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def wait_for_every_worker(server: ServerProcess) -> None:
    """HTTP readiness comes from the first worker up; each starts gRPC once its models are warm."""
    deadline = time.monotonic() + DEADLINE_S
    while server.log().count("serves gRPC on") < server.workers:
        assert time.monotonic() < deadline, f"not every worker serves gRPC:\n{server.log()}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    models = shutil.copytree(ROOT / "models", tmp_path_factory.mktemp("grpc") / "models")
    add_broken_model(models)
    (models / "broad").mkdir()
    (models / "broad" / "model.yaml").write_text(
        "name: broad\ninputs:\n  - {name: x, shape: [4096]}\nlayers:\n  - {name: act, type: Tanh}\n"
    )
    grpc_port = free_port()
    env = {
        "LAYERSERVE_GRPC_PORT": str(grpc_port),
        "LAYERSERVE_INFER_TOKEN": TOKEN,
        "LAYERSERVE_MAX_BATCH_SIZE": str(MAX_BATCH),
        "LAYERSERVE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    }
    process = ServerProcess(models, env=env).start()
    process.grpc_target = f"127.0.0.1:{grpc_port}"
    wait_for_every_worker(process)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server):
    client = wait_for_grpc(server.grpc_target)
    yield client
    client.close()


def fp32_input(name: str, values) -> triton.InferInput:
    array = np.asarray(values, dtype=np.float32)
    tensor = triton.InferInput(name, list(array.shape), "FP32")
    tensor.set_data_from_numpy(array)
    return tensor


def http_output(server, model: str, name: str, values) -> np.ndarray:
    return next(iter(http_outputs(server, model, {name: values}).values()))


def http_outputs(server, model: str, inputs: dict) -> dict[str, np.ndarray]:
    """The HTTP JSON answer's outputs, by name, in the order given."""
    arrays = {name: np.asarray(values, dtype=np.float32) for name, values in inputs.items()}
    body = {
        "inputs": [
            {"name": name, "shape": list(array.shape), "datatype": "FP32", "data": array.ravel().tolist()}
            for name, array in arrays.items()
        ]
    }
    response = requests.post(f"{server.url}/v2/models/{model}/infer", json=body, headers=AUTH, timeout=10)
    response.raise_for_status()
    return {
        output["name"]: np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])
        for output in response.json()["outputs"]
    }


def error_of(call) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as raised:
        call()
    return raised.value


# --- health and metadata ------------------------------------------------------------------------


def test_live_and_ready(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("dense")
    assert client.is_model_ready("dense", "1")


def test_a_model_that_failed_to_load_is_not_ready(client):
    assert not client.is_model_ready("broken")


def test_readiness_of_an_unknown_model_or_version_is_not_found(client):
    assert error_of(lambda: client.is_model_ready("nope")).status() == "StatusCode.NOT_FOUND"
    assert error_of(lambda: client.is_model_ready("dense", "7")).status() == "StatusCode.NOT_FOUND"


def test_server_metadata(client):
    metadata = client.get_server_metadata(as_json=True)
    assert metadata["name"] == "layerserve"
    assert metadata["version"]


def test_model_metadata_matches_http(server, client):
    metadata = client.get_model_metadata("dense", as_json=True)
    http = requests.get(f"{server.url}/v2/models/dense", timeout=10).json()
    assert metadata["name"] == "dense"
    assert metadata["versions"] == ["1"]
    assert metadata["platform"] == "layerserve"
    assert metadata["inputs"] == [{"name": "point", "datatype": "FP32", "shape": ["-1", "2"]}]
    assert metadata["outputs"] == [{"name": "activation1", "datatype": "FP32", "shape": ["-1", "3"]}]
    assert [i["shape"] for i in http["inputs"]] == [[int(d) for d in i["shape"]] for i in metadata["inputs"]]


# --- inference ----------------------------------------------------------------------------------


def test_dense_maps_the_worked_example(client):
    result = client.infer("dense", [fp32_input("point", [[0.5, 1.0]])], headers=AUTH)
    np.testing.assert_allclose(result.as_numpy("activation1"), [[1.2, 3.6, 0.65]], rtol=1e-6)
    response = result.get_response()
    assert (response.model_name, response.model_version) == ("dense", "1")
    assert len(response.raw_output_contents) == 1  # raw inputs, raw outputs


def test_fold_answers_like_http_bit_for_bit(server, client):
    batch = [[1, 0], [0, 1], [1, 1]]
    result = client.infer("fold", [fp32_input("x", batch)], headers=AUTH)
    answer = result.as_numpy("act")
    np.testing.assert_array_equal(answer, [[1, 0], [0.5, 1], [1.5, 0.5]])
    assert answer.tobytes() == http_output(server, "fold", "x", batch).tobytes()


def test_wide_raw_contents_round_trip(server, client):
    """A larger batch in raw bytes; the answer equals the HTTP JSON answer bit for bit."""
    batch = np.random.default_rng(0).standard_normal((MAX_BATCH, 2), dtype=np.float32)
    answer = client.infer("dense", [fp32_input("point", batch)], headers=AUTH).as_numpy("activation1")
    assert answer.shape == (MAX_BATCH, 3)
    assert answer.tobytes() == http_output(server, "dense", "point", batch).tobytes()


@pytest.mark.parametrize("rows", [1, 2])
def test_a_large_raw_input_answers_like_http(server, client, rows):
    """16 KiB a row: raw contents this large are read apart from the message (service/grpc_api/wire.py).
    Values of few digits keep the HTTP JSON request under the body limit."""
    batch = np.random.default_rng(rows).integers(-16, 16, (rows, 4096)).astype(np.float32) / 4
    answer = client.infer("broad", [fp32_input("x", batch)], request_id="big", headers=AUTH)
    assert answer.get_response().id == "big"
    assert answer.as_numpy("act").tobytes() == http_output(server, "broad", "x", batch).tobytes()


def test_each_output_comes_back_in_its_own_raw_contents_in_order(server, client):
    batch = [[1, 2, 3, 4], [0.5, -1, 2, 8]]
    response = client.infer("norms", [fp32_input("x", batch)], headers=AUTH)
    expected = http_outputs(server, "norms", {"x": batch})
    assert (
        [output.name for output in response.get_response().outputs]
        == list(expected)
        == [
            "batch_norm",
            "layer_norm",
            "rms_norm",
        ]
    )
    for name, array in expected.items():
        assert response.as_numpy(name).tobytes() == array.tobytes(), name


def test_two_inputs_in_raw_contents_each_reach_their_own_input(server, client):
    rng = np.random.default_rng(1)
    x1, x2 = rng.standard_normal((3, 5), dtype=np.float32), rng.standard_normal((3, 4), dtype=np.float32)
    answer = client.infer("matcher", [fp32_input("x1", x1), fp32_input("x2", x2)], headers=AUTH)
    ((name, expected),) = http_outputs(server, "matcher", {"x1": x1, "x2": x2}).items()
    assert answer.as_numpy(name).tobytes() == expected.tobytes()
    swapped = client.infer("matcher", [fp32_input("x2", x2), fp32_input("x1", x1)], headers=AUTH)
    assert swapped.as_numpy(name).tobytes() == expected.tobytes()


def test_requested_output_and_request_id(client):
    outputs = [triton.InferRequestedOutput("activation1")]
    result = client.infer("dense", [fp32_input("point", [[0.5, 1.0]])], outputs=outputs, request_id="r-1", headers=AUTH)
    assert result.get_response().id == "r-1"
    assert [o.name for o in result.get_response().outputs] == ["activation1"]


def test_an_unknown_requested_output_is_invalid(client):
    outputs = [triton.InferRequestedOutput("nope")]
    error = error_of(lambda: client.infer("dense", [fp32_input("point", [[0.5, 1.0]])], outputs=outputs, headers=AUTH))
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert "no output 'nope'" in error.message()


def typed_request(model: str, name: str, values, **contents) -> service_pb2.ModelInferRequest:
    """Typed contents (no raw bytes), built with tritonclient's own protocol messages."""
    request = service_pb2.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name=name, datatype="FP32", shape=list(np.shape(values)))
    if contents:
        for field, data in contents.items():
            getattr(tensor.contents, field).extend(data)
    else:
        tensor.contents.fp32_contents.extend(np.ravel(values).tolist())
    return request


@pytest.fixture(scope="module")
def stub(server, client):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def test_typed_contents_in_typed_contents_out(stub):
    response = stub.ModelInfer(typed_request("dense", "point", [[0.5, 1.0]]), metadata=tuple(AUTH.items()))
    assert not response.raw_output_contents
    (output,) = response.outputs
    assert (output.name, output.datatype, list(output.shape)) == ("activation1", "FP32", [1, 3])
    np.testing.assert_allclose(output.contents.fp32_contents, [1.2, 3.6, 0.65], rtol=1e-6)


def test_typed_contents_in_the_wrong_field_are_refused(stub):
    request = typed_request("dense", "point", [[0.5, 1.0]], int64_contents=[1, 2])
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request, metadata=tuple(AUTH.items()))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "FP32 values go in contents.fp32_contents" in raised.value.details()


# --- the token ----------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}])
def test_inference_needs_the_token(client, headers):
    error = error_of(lambda: client.infer("dense", [fp32_input("point", [[0.5, 1.0]])], headers=headers))
    assert error.status() == "StatusCode.UNAUTHENTICATED"
    assert "bearer token" in error.message()


def test_metadata_needs_no_token(client):
    assert client.get_model_metadata("dense", as_json=True)["name"] == "dense"


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "tensor", "status", "words"),
    [
        ("nope", fp32_input("point", [[0.5, 1.0]]), "NOT_FOUND", "unknown model 'nope'"),
        ("broken", fp32_input("x", [[1, 2, 3]]), "INVALID_ARGUMENT", "model 'broken' is unavailable"),
        ("dense", fp32_input("point", [[0.5, 1.0, 2.0]]), "INVALID_ARGUMENT", "expected shape [-1, 2]"),
        ("dense", fp32_input("where", [[0.5, 1.0]]), "INVALID_ARGUMENT", "has no input 'where'"),
        ("dense", fp32_input("point", np.zeros((MAX_BATCH + 1, 2))), "INVALID_ARGUMENT", f"outside 1..{MAX_BATCH}"),
        ("dense", fp32_input("point", [[np.nan, 1.0]]), "INVALID_ARGUMENT", "NaN or infinite"),
    ],
)
def test_bad_requests_get_the_status_and_message_of_their_error(client, model, tensor, status, words):
    error = error_of(lambda: client.infer(model, [tensor], headers=AUTH))
    assert error.status() == f"StatusCode.{status}"
    assert words in error.message()


def test_a_wrong_datatype_is_invalid(client):
    tensor = triton.InferInput("point", [1, 2], "FP64")
    tensor.set_data_from_numpy(np.array([[0.5, 1.0]]))
    error = error_of(lambda: client.infer("dense", [tensor], headers=AUTH))
    assert error.status() == "StatusCode.INVALID_ARGUMENT"
    assert "FP64 does not match the model's FP32" in error.message()


def test_a_message_over_the_body_limit_is_resource_exhausted(client):
    rows = MAX_BODY_BYTES // 8 + 1  # 2 float32 per row: just over the limit
    error = error_of(lambda: client.infer("dense", [fp32_input("point", np.zeros((rows, 2)))], headers=AUTH))
    assert error.status() == "StatusCode.RESOURCE_EXHAUSTED"


def test_every_worker_serves_grpc_and_logs_each_call(server, client):
    """The workers share the gRPC port's socket and balance their connections: clients connected
    at once reach both. (A local subchannel pool: gRPC would otherwise share one connection among
    the channels.)"""
    own_connection = [("grpc.use_local_subchannel_pool", 1)]
    clients = [triton.InferenceServerClient(server.grpc_target, channel_args=own_connection) for _ in range(8)]
    try:
        for _ in range(3):
            for fresh in clients:
                fresh.infer("fold", [fp32_input("x", [[1, 0]])], headers=AUTH)
    finally:
        for fresh in clients:
            fresh.close()
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith('{"ts"')]
    calls = [line for line in lines if line["path"] == "/inference.GRPCInferenceService/ModelInfer"]
    assert len({line["pid"] for line in calls if line["model"] == "fold"}) == server.workers
    assert {"request_id", "status", "latency_ms"} <= calls[-1].keys()


def test_serve_takes_the_grpc_port_as_a_flag():
    """As `make run` starts it: `layerserve serve --grpc-port N`."""
    grpc_port = free_port()
    process = ServerProcess(ROOT / "models", workers=1, arguments=("--grpc-port", str(grpc_port))).start()
    try:
        client = wait_for_grpc(f"127.0.0.1:{grpc_port}")
        assert client.is_model_ready("dense")
        client.close()
    finally:
        process.stop()


def test_inference_past_the_time_limit_is_deadline_exceeded(tmp_path):
    grpc_port = free_port()
    env = {"LAYERSERVE_GRPC_PORT": str(grpc_port), "LAYERSERVE_INFER_TIMEOUT": "1e-9"}
    process = ServerProcess(ROOT / "models", workers=1, env=env).start()
    try:
        client = wait_for_grpc(f"127.0.0.1:{grpc_port}")
        error = error_of(lambda: client.infer("dense", [fp32_input("point", [[0.5, 1.0]])]))
        assert error.status() == "StatusCode.DEADLINE_EXCEEDED"
        assert "LAYERSERVE_INFER_TIMEOUT" in error.message()
        client.close()
    finally:
        process.stop()


def raw_call(target: str, extra_headers: list[tuple[str, str]], message: bytes) -> dict[str, str]:
    """One ModelInfer call in HTTP/2 frames written by hand (headers a gRPC library would not send);
    the answer's trailers."""
    headers = [(":method", "POST"), (":scheme", "http"), (":path", "/inference.GRPCInferenceService/ModelInfer"),
               (":authority", target), ("content-type", "application/grpc"), ("te", "trailers"),
               *AUTH.items(), *extra_headers]  # fmt: skip
    block, body = hpack.Encoder().encode(headers), b"\0" + len(message).to_bytes(4, "big") + message

    def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload

    host, port = target.rsplit(":", 1)
    decoder = hpack.Decoder()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(1, 4, 1, block) + frame(0, 1, 1, body)
        )
        received = b""
        while True:
            while len(received) < 9 or len(received) < 9 + int.from_bytes(received[:3], "big"):
                chunk = sock.recv(65536)
                assert chunk, "the connection closed before the call's trailers"
                received += chunk
            length, kind, flags = int.from_bytes(received[:3], "big"), received[3], received[4]
            payload, received = received[9 : 9 + length], received[9 + length :]
            if kind == 1:
                fields = dict(decoder.decode(payload))
                if flags & 1:  # END_STREAM: the trailers
                    return fields


def test_the_clients_deadline_stops_the_work_and_names_itself(server):
    message = service_pb2.ModelInferRequest(model_name="dense", raw_input_contents=[np.float32([0.5, 1.0]).tobytes()])
    message.inputs.add(name="point", datatype="FP32", shape=[1, 2])
    trailers = raw_call(server.grpc_target, [("grpc-timeout", "1n")], message.SerializeToString())
    assert trailers["grpc-status"] == str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0])
    assert "the call's grpc-timeout" in urllib.parse.unquote(trailers["grpc-message"])
    roomy = raw_call(server.grpc_target, [("grpc-timeout", "30S")], message.SerializeToString())
    assert roomy["grpc-status"] == "0"


@pytest.mark.parametrize(
    "message",
    [
        b"\x3a\xa0\x8d\x06" + b"x" * 20_000,  # raw_input_contents of 100,000 bytes, 20,000 there
        b"\x0a\x04wide" + b"\x3b" + b"x" * 20_000,  # a group where raw_input_contents should be
    ],
)
def test_a_large_message_that_does_not_decode_is_invalid(server, message):
    trailers = raw_call(server.grpc_target, [], message)
    assert trailers["grpc-status"] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0])
    assert "does not decode" in urllib.parse.unquote(trailers["grpc-message"])


def test_a_malformed_grpc_timeout_is_invalid_and_says_so(server):
    trailers = raw_call(server.grpc_target, [("grpc-timeout", "soon")], b"")
    assert trailers["grpc-status"] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0])
    assert "grpc-timeout 'soon'" in urllib.parse.unquote(trailers["grpc-message"])


# --- the transport: many calls on one connection, a broken connection, a graceful stop ------------


def test_many_calls_at_once_on_one_connection_each_get_their_own_answer(server, client):
    """One channel, one HTTP/2 connection: 64 calls in flight at once, small and batched ones
    mixed, each answered with its own outputs."""
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((1 + index % MAX_BATCH, 2), dtype=np.float32) for index in range(64)]
    expected = [http_output(server, "dense", "point", batch) for batch in batches[:8]]
    results = [None] * len(batches)

    def done(index):
        return lambda result, error: results.__setitem__(index, error or result.as_numpy("activation1"))

    for index, batch in enumerate(batches):
        client.async_infer("dense", [fp32_input("point", batch)], done(index), headers=AUTH)
    deadline = time.monotonic() + DEADLINE_S
    while any(result is None for result in results) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(isinstance(result, np.ndarray) for result in results), results
    assert [r.shape[0] for r in results] == [b.shape[0] for b in batches]
    assert all(r.tobytes() == e.tobytes() for r, e in zip(results, expected))


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x04\x06\x00\x00\x00\x00\x00abcd",
    ],
    ids=["http1", "short-ping"],
)
def test_a_broken_connection_is_closed_with_a_goaway_and_the_rest_go_on(server, client, garbage):
    host, port = server.grpc_target.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(garbage)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    frame_types = []
    offset = 0
    while offset + 9 <= len(received):
        length = int.from_bytes(received[offset : offset + 3], "big")
        frame_types.append(received[offset + 3])
        offset += 9 + length
    assert frame_types[0] == 0x4 and frame_types[-1] == 0x7  # SETTINGS first, GOAWAY last
    answer = client.infer("fold", [fp32_input("x", [[1, 0]])], headers=AUTH).get_response()
    assert np.frombuffer(answer.raw_output_contents[0], dtype="<f4").tolist() == [1.0, 0.0]  # fold: ReLU(W·x)


def test_a_graceful_stop_answers_the_calls_under_way(tmp_path):
    """SIGTERM right after 32 calls went out on one connection: each is answered, none cut off
    (calls the worker had not read yet when it sent its first GOAWAY included)."""
    CALLS = 32
    models = shutil.copytree(ROOT / "models", tmp_path / "models")
    grpc_port = free_port()
    process = ServerProcess(models, workers=1, env={"LAYERSERVE_GRPC_PORT": str(grpc_port)}).start()
    try:
        client = wait_for_grpc(f"127.0.0.1:{grpc_port}")
        results = []
        for _ in range(CALLS):
            client.async_infer(
                "dense", [fp32_input("point", [[0.5, 1.0]])], lambda result, error: results.append(error or result)
            )
        process.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + DEADLINE_S
        while len(results) < CALLS and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(results) == CALLS
        assert all(not isinstance(r, Exception) for r in results), results
        client.close()
    finally:
        process.stop()


def grpc_connections_by_worker(server: ServerProcess, grpc_port: int) -> dict[int, int]:
    counts = {}
    for worker in psutil.Process(server.process.pid).children():
        connections = worker.net_connections("tcp")
        counts[worker.pid] = sum(1 for c in connections if c.laddr.port == grpc_port and c.status == "ESTABLISHED")
    return counts


def test_the_workers_share_grpc_connections_evenly():
    """Sixteen connections at once, as a load generator opens them: each worker takes eight, give
    or take one (a socket per worker with SO_REUSEPORT left the split to the kernel's hash)."""
    grpc_port = free_port()
    server = ServerProcess(ROOT / "models", workers=2, env={"LAYERSERVE_GRPC_PORT": str(grpc_port)}).start()
    sockets = []
    try:
        wait_for_every_worker(server)
        sockets = [socket.create_connection(("127.0.0.1", grpc_port), timeout=10) for _ in range(16)]
        deadline = time.monotonic() + DEADLINE_S
        while sum((counts := grpc_connections_by_worker(server, grpc_port)).values()) < 16:
            assert time.monotonic() < deadline, f"the workers did not take every connection: {counts}"
            time.sleep(0.1)
        assert len(counts) == 2 and max(counts.values()) - min(counts.values()) <= 2, counts
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def test_grpc_serves_on_after_a_reload():
    """SIGHUP replaces the workers and runs the config file again; the gRPC port stays open."""
    grpc_port = free_port()
    server = ServerProcess(ROOT / "models", workers=1, env={"LAYERSERVE_GRPC_PORT": str(grpc_port)}).start()
    try:
        wait_for_every_worker(server)
        before = {child.pid for child in psutil.Process(server.process.pid).children()}
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + DEADLINE_S
        while (
            server.log().count("serves gRPC on") < 2
            or {child.pid for child in psutil.Process(server.process.pid).children()} & before
        ):
            assert time.monotonic() < deadline, f"no new worker serves gRPC:\n{server.log()}"
            time.sleep(0.1)
        with triton.InferenceServerClient(f"127.0.0.1:{grpc_port}") as client:
            result = client.infer("dense", [fp32_input("point", [[0.5, 1.0]])])
        np.testing.assert_allclose(result.as_numpy("activation1"), [[1.2, 3.6, 0.65]], rtol=1e-6)
    finally:
        server.stop()


def test_a_taken_grpc_port_stops_the_server_with_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        grpc_port = taken.getsockname()[1]
        process = ServerProcess(ROOT / "models", workers=1, env={"LAYERSERVE_GRPC_PORT": str(grpc_port)})
        with pytest.raises(RuntimeError):
            process.start()
        log = process.stop()
    assert f"Error: gRPC cannot listen on 127.0.0.1:{grpc_port} (LAYERSERVE_GRPC_PORT)" in log
    assert process.process.returncode != 0 and "Traceback" not in log
