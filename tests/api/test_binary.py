"""The binary tensor extension: raw tensor bytes after a JSON header, both ways."""

import json

import numpy as np
import pytest

from .helpers import error_of

HEADER = "Inference-Header-Content-Length"
POINTS = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
FOLDED = np.array([[1, 0], [0.5, 1], [1.5, 0.5]], dtype=np.float32)


def binary_request(header: dict, *blobs: bytes, content_type="application/octet-stream"):
    head = json.dumps(header).encode()
    return {
        "data": head + b"".join(blobs),
        "headers": {HEADER: str(len(head))},
        "content_type": content_type,
    }


def binary_input(array: np.ndarray, name="x", datatype="FP32") -> dict:
    return {
        "name": name,
        "shape": list(array.shape),
        "datatype": datatype,
        "parameters": {"binary_data_size": array.nbytes},
    }


def split_response(response) -> tuple[dict, bytes]:
    length = int(response.headers[HEADER])
    body = response.get_data()
    return json.loads(body[:length]), body[length:]


def test_binary_in_binary_out(client):
    header = {"inputs": [binary_input(POINTS)], "outputs": [{"name": "act", "parameters": {"binary_data": True}}]}
    response = client.post("/v2/models/fold/infer", **binary_request(header, POINTS.tobytes()))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    document, blob = split_response(response)
    (output,) = document["outputs"]
    assert output["shape"] == [3, 2] and "data" not in output
    assert output["parameters"]["binary_data_size"] == len(blob) == FOLDED.nbytes
    assert np.array_equal(np.frombuffer(blob, dtype="<f4").reshape(3, 2), FOLDED)


def test_binary_in_json_out(client):
    response = client.post(
        "/v2/models/fold/infer", **binary_request({"inputs": [binary_input(POINTS)]}, POINTS.tobytes())
    )
    assert response.status_code == 200
    assert response.get_json()["outputs"][0]["data"] == FOLDED.ravel().tolist()


def test_json_in_binary_out_for_every_output(client):
    body = {
        "inputs": [{"name": "x", "shape": [3, 2], "datatype": "FP32", "data": POINTS.tolist()}],
        "parameters": {"binary_data_output": True},
    }
    response = client.post("/v2/models/fold/infer", json=body)
    document, blob = split_response(response)
    assert np.array_equal(np.frombuffer(blob, dtype="<f4").reshape(3, 2), FOLDED)


def test_two_binary_inputs_are_read_in_order(client):
    x1 = np.arange(10, dtype=np.float32).reshape(2, 5)
    x2 = np.arange(8, dtype=np.float32).reshape(2, 4)
    header = {"inputs": [binary_input(x1, "x1"), binary_input(x2, "x2")]}
    binary = client.post("/v2/models/matcher/infer", **binary_request(header, x1.tobytes(), x2.tobytes()))
    plain = client.post(
        "/v2/models/matcher/infer",
        json={
            "inputs": [
                {"name": n, "shape": list(a.shape), "datatype": "FP32", "data": a.tolist()}
                for n, a in (("x1", x1), ("x2", x2))
            ]
        },
    )
    assert binary.get_json()["outputs"] == plain.get_json()["outputs"]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "fragment"),
    [
        (
            binary_request({"inputs": [binary_input(POINTS)]}, POINTS.tobytes()[:-4]),
            400,
            "binary_data_size is 24; 20 bytes",
        ),
        (
            binary_request({"inputs": [binary_input(POINTS)]}, POINTS.tobytes() + b"xx"),
            400,
            "the binary part has 26 bytes",
        ),
        (
            binary_request(
                {"inputs": [{**binary_input(POINTS), "parameters": {"binary_data_size": 20}}]}, POINTS.tobytes()[:20]
            ),
            400,
            "needs 24 bytes, got 20",
        ),
        (
            binary_request(
                {"inputs": [binary_input(np.array([[np.nan, 1]], np.float32))]},
                np.array([[np.nan, 1]], np.float32).tobytes(),
            ),
            400,
            "NaN or infinite values are not accepted",
        ),
        (
            {**binary_request({"inputs": [binary_input(POINTS)]}, POINTS.tobytes()), "headers": {HEADER: "many"}},
            400,
            "Inference-Header-Content-Length must be an integer",
        ),
        (
            {**binary_request({"inputs": [binary_input(POINTS)]}, POINTS.tobytes()), "headers": {HEADER: "9999"}},
            400,
            "Inference-Header-Content-Length is 9999, but the body has",
        ),
        (
            binary_request({"inputs": [binary_input(POINTS)]}, POINTS.tobytes(), content_type="text/plain"),
            415,
            "text/plain",
        ),
    ],
    ids=[
        "too few bytes",
        "extra bytes",
        "size disagrees with shape",
        "NaN",
        "header not a number",
        "header too long",
        "content type",
    ],
)
def test_bad_binary_requests(client, request_kwargs, status, fragment):
    response = client.post("/v2/models/fold/infer", **request_kwargs)
    assert response.status_code == status
    assert fragment in error_of(response)


def test_binary_data_size_without_a_binary_part(client):
    body = {"inputs": [binary_input(POINTS)]}
    response = client.post("/v2/models/fold/infer", json=body)
    assert response.status_code == 400
    assert "no binary part" in error_of(response)


def test_an_input_with_neither_data_nor_binary_size(client):
    body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32"}]}
    response = client.post("/v2/models/fold/infer", json=body)
    assert response.status_code == 400
    assert "input 'x': has neither data nor parameters.binary_data_size" in error_of(response)
