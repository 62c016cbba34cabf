"""Before a server is timed, its answer to the request it will be sent must equal the in-process
forward pass (bench/reference.py) bit for bit: JSON and binary bodies over HTTP, gRPC (bench/grpc_load.py)."""

import json

import numpy as np
import requests

from .cases import Payload

HEADER_LENGTH = "Inference-Header-Content-Length"


def check_http(url: str, payload: Payload, expected: list[float]) -> str | None:
    """None when the first output equals `expected` exactly; otherwise what is wrong."""
    response = requests.post(url, data=payload.body(), headers=payload.headers(), timeout=60)
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200].strip()}"
    try:
        got = first_output(response)
    except (KeyError, ValueError, IndexError) as exc:
        return f"undecodable answer: {exc!r}"
    return compare(expected, got)


def first_output(response: requests.Response) -> np.ndarray:
    if HEADER_LENGTH in response.headers:
        header_length = int(response.headers[HEADER_LENGTH])
        header = json.loads(response.content[:header_length])
        output = header["outputs"][0]
        size = output["parameters"]["binary_data_size"]
        return np.frombuffer(response.content[header_length : header_length + size], dtype="<f4")
    return np.asarray(response.json()["outputs"][0]["data"], dtype=np.float32).ravel()


def compare(expected: list[float], got: np.ndarray) -> str | None:
    reference = np.asarray(expected, dtype=np.float32)
    got = np.asarray(got, dtype=np.float32).ravel()
    if got.shape != reference.shape:
        return f"answer has {got.size} values, the in-process forward {reference.size}"
    if not np.array_equal(got.view(np.uint32), reference.view(np.uint32)):
        differing = int(np.count_nonzero(got.view(np.uint32) != reference.view(np.uint32)))
        largest = float(np.max(np.abs(got - reference)))
        return f"not bit-for-bit: {differing} of {got.size} values differ, by up to {largest:.3g}"
    return None
