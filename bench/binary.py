"""Check, before timing it, that a binary-tensor request answers like the JSON one."""

import json

import numpy as np
import requests

from .cases import Payload

HEADER_LENGTH = "Inference-Header-Content-Length"
TOLERANCE = 1e-5


def check_binary(infer_url: str, json_payload: Payload, binary_payload: Payload, output_name: str) -> tuple[str, str]:
    """("ok", ""), or ("unsupported" | "mismatch" | "error", why)."""
    reference = requests.post(infer_url, data=json_payload.body(), headers=json_payload.headers(), timeout=60)
    if reference.status_code != 200:
        return "error", f"the JSON request answers HTTP {reference.status_code}: {reference.text[:200].strip()}"
    expected = _json_output(reference, output_name)
    response = requests.post(infer_url, data=binary_payload.body(), headers=binary_payload.headers(), timeout=60)
    if 400 <= response.status_code < 500:
        return "unsupported", f"HTTP {response.status_code}: {response.text[:200].strip()}"
    if response.status_code != 200:
        return "error", f"HTTP {response.status_code}: {response.text[:200].strip()}"
    if HEADER_LENGTH not in response.headers:
        return "mismatch", f"200 without an {HEADER_LENGTH} header"
    try:
        got = decode_binary_response(response.content, int(response.headers[HEADER_LENGTH]))[output_name]
    except (KeyError, ValueError) as exc:
        return "mismatch", f"undecodable binary response: {exc!r}"
    return _compare(expected, got)


def decode_binary_response(content: bytes, header_length: int) -> dict[str, np.ndarray]:
    """Outputs by name; binary ones follow the JSON header in the order the header lists them."""
    header = json.loads(content[:header_length])
    offset, arrays = header_length, {}
    for output in header["outputs"]:
        size = output.get("parameters", {}).get("binary_data_size")
        if size is None:
            values = np.asarray(output["data"], dtype=np.float32)
        else:
            values = np.frombuffer(content[offset : offset + size], dtype="<f4")
            offset += size
        arrays[output["name"]] = values.reshape(output["shape"])
    return arrays


def _json_output(response: requests.Response, output_name: str) -> np.ndarray:
    for output in response.json()["outputs"]:
        if output["name"] == output_name:
            return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])
    raise KeyError(f"JSON response has no output {output_name!r}")


def _compare(expected: np.ndarray, got: np.ndarray) -> tuple[str, str]:
    if expected.shape != got.shape:
        return "mismatch", f"binary output shape {list(got.shape)}, JSON output shape {list(expected.shape)}"
    difference = float(np.max(np.abs(expected - got)))
    if difference > TOLERANCE:
        return "mismatch", f"binary and JSON outputs differ by up to {difference:.3g}"
    return "ok", ""
