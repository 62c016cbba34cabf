"""The benchmark cases and the request bodies they send, as JSON or as binary tensors."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).with_name("models")
INPUT_NAME = "x"  # every bench model has one input named x


@dataclass(frozen=True)
class Case:
    model: str
    batch: int
    features: int
    binary: bool = False  # large enough to also measure with binary tensors
    concurrency: tuple[int, ...] = (16,)  # connections, unless --concurrency says otherwise

    @property
    def id(self) -> str:
        return f"{self.model}-b{self.batch}"

    def inputs(self) -> np.ndarray:
        return np.random.default_rng(0).standard_normal((self.batch, self.features), dtype=np.float32)


CASES = (
    Case("tiny", 1, 2, concurrency=(1, 16)),
    Case("mlp", 1, 64, concurrency=(1, 16)),
    Case("mlp", 64, 64, binary=True),
    Case("wide", 1, 1024),
    Case("wide", 32, 1024, binary=True),
)
BATCHING_CASE_ID = "wide-b1"
BATCHING_CONCURRENCY = (16, 32)
BATCHING_MODELS = ("wide", "wide_batched")  # off, on
GRPC_CASES = {"tiny-b1": "json", "wide-b32": "binary"}  # gRPC against this HTTP body of the same case
INPUTS_LIKE = {"wide_batched": "wide"}  # models that take another model's inputs


def cases_for_model(model: str) -> list["Case"]:
    return [c for c in CASES if c.model == INPUTS_LIKE.get(model, model)]


@dataclass(frozen=True)
class Payload:
    """One request body in a file (wrk reads it from there) with the headers that go with it."""

    path: Path
    content_type: str
    header_length: int | None = None

    def body(self) -> bytes:
        return self.path.read_bytes()

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": self.content_type}
        if self.header_length is not None:
            headers["Inference-Header-Content-Length"] = str(self.header_length)
        return headers


def select_cases(wanted: list[str] | None) -> list[Case]:
    """Cases by id (mlp-b64) or by model name (mlp); all of them when nothing is asked for."""
    if not wanted:
        return list(CASES)
    known = {c.id for c in CASES} | {c.model for c in CASES}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise SystemExit(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    return [c for c in CASES if c.id in wanted or c.model in wanted]


def json_body(array: np.ndarray) -> bytes:
    tensor = {"name": INPUT_NAME, "shape": list(array.shape), "datatype": "FP32", "data": array.ravel().tolist()}
    return json.dumps({"inputs": [tensor]}).encode()


def binary_body(array: np.ndarray) -> tuple[bytes, int]:
    """The binary tensor extension: a JSON header, then the raw little-endian values, the
    outputs asked for as raw bytes too; returns (body, header length)."""
    raw = array.astype("<f4").tobytes()
    header = {
        "inputs": [
            {
                "name": INPUT_NAME,
                "shape": list(array.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "parameters": {"binary_data_output": True},
    }
    header_bytes = json.dumps(header).encode()
    return header_bytes + raw, len(header_bytes)


def write_json_payload(case: Case, directory: Path) -> Payload:
    path = directory / f"{case.id}.json"
    path.write_bytes(json_body(case.inputs()))
    return Payload(path, "application/json")


def write_binary_payload(case: Case, directory: Path) -> Payload:
    path = directory / f"{case.id}.bin"
    body, header_length = binary_body(case.inputs())
    path.write_bytes(body)
    return Payload(path, "application/octet-stream", header_length)
