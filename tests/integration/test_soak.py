"""A short soak: 32 clients send valid and invalid requests for a bounded time; no 5xx, memory flat.

The server is the container's command with two workers over the bundled models. Each request
kind has the one status it must get, so a wrong answer fails the soak as a 5xx would. Worker
memory (RSS and USS) is read after a warm-up and again at the end; it may grow by allocator
noise, not by a leak of every request.
"""

import itertools
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import psutil
import pytest
import requests

from .conftest import ROOT

pytestmark = pytest.mark.integration

CLIENTS = 32
SOAK_SECONDS = 15.0
WARM_UP_REQUESTS = 1000
MIB = 1024 * 1024
# Generous: a per-request leak of even 1 KiB over the soak's thousands of requests shows up as
# several MiB per worker only over longer runs, but a leak of buffers (a batch, a body) does at once.
MAX_USS_GROWTH_PER_WORKER = 48 * MIB


@dataclass(frozen=True)
class Kind:
    """One kind of request and the status it must get."""

    name: str
    method: str
    path: str
    status: int
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


def infer_json(name: str, shape: list[int], data: list, datatype: str = "FP32") -> bytes:
    return json.dumps({"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}).encode()


def binary_fold() -> tuple[bytes, tuple[tuple[str, str], ...]]:
    values = np.array([[0.5, 1.0], [-1.0, 2.0]], dtype="<f4")
    header = json.dumps(
        {
            "inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    headers = (("Content-Type", "application/octet-stream"), ("Inference-Header-Content-Length", str(len(header))))
    return header + values.tobytes(), headers


def request_kinds() -> list[Kind]:
    image = np.linspace(-1, 1, 2 * 28 * 28).round(4).tolist()
    binary_body, binary_headers = binary_fold()
    return [
        Kind("fold infer", "POST", "/v2/models/fold/infer", 200, infer_json("x", [3, 2], [1, 0, 0, 1, 1, 1])),
        Kind("dense infer", "POST", "/v2/models/dense/infer", 200, infer_json("point", [1, 2], [0.5, 1.0])),
        Kind(
            "classifier infer", "POST", "/v2/models/classifier/infer", 200, infer_json("image", [2, 1, 28, 28], image)
        ),
        Kind("fold binary infer", "POST", "/v2/models/fold/infer", 200, binary_body, binary_headers),
        Kind("recipe predict", "POST", "/v1/models/recipe:predict", 200, b'{"instances": [[1, 2, 3], [2, 4, 6]]}'),
        Kind("dense trace", "POST", "/v2/models/dense/trace", 200, infer_json("point", [1, 2], [0.5, 1.0])),
        Kind("metadata", "GET", "/v2/models/matcher", 200),
        Kind("layers", "GET", "/v2/models/classifier/layers", 200),
        Kind("wrong shape", "POST", "/v2/models/fold/infer", 400, infer_json("x", [1, 3], [1, 2, 3])),
        Kind("not JSON", "POST", "/v2/models/fold/infer", 400, b"inputs: x"),
        Kind(
            "NaN",
            "POST",
            "/v2/models/fold/infer",
            400,
            b'{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [NaN, 1]}]}',
        ),
        Kind("batch too big", "POST", "/v2/models/fold/infer", 400, infer_json("x", [1025, 2], [0] * 2050)),
        Kind("unknown model", "POST", "/v2/models/nope/infer", 404, infer_json("x", [1, 2], [1, 2])),
        Kind("form body", "POST", "/v2/models/fold/infer", 415, b"x=1", (("Content-Type", "text/plain"),)),
        Kind("wrong method", "GET", "/v2/models/fold/infer", 405),
    ]


def worker_memory(master_pid: int) -> dict[int, tuple[int, int]]:
    """{worker pid: (RSS, USS)} of the master's children."""
    found = {}
    for worker in psutil.Process(master_pid).children():
        info = worker.memory_full_info()
        found[worker.pid] = (info.rss, info.uss)
    return found


def send_all(url: str, kinds: list[Kind], count: int | None, until: float | None) -> tuple[Counter, Counter]:
    """Send the kinds round-robin from CLIENTS threads: (statuses, mismatches by kind)."""
    statuses, mismatches, lock = Counter(), Counter(), threading.Lock()
    sequence = itertools.count()

    def client(offset: int) -> None:
        with requests.Session() as session:
            while True:
                number = next(sequence)
                if (count is not None and number >= count) or (until is not None and time.monotonic() >= until):
                    return
                kind = kinds[(number + offset) % len(kinds)]
                response = session.request(
                    kind.method, url + kind.path, data=kind.body, headers=dict(kind.headers), timeout=30
                )
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code != kind.status:
                        mismatches[f"{kind.name}: {response.status_code} {response.text[:200]}"] += 1

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return statuses, mismatches


def test_soak_mixed_traffic_no_5xx_memory_flat(start_server):
    server = start_server(ROOT / "models", workers=2, env={"LAYERSERVE_REQUEST_LOG": "0"})
    kinds = request_kinds()
    _, warm_up_mismatches = send_all(server.url, kinds, count=WARM_UP_REQUESTS, until=None)
    assert not warm_up_mismatches
    before = worker_memory(server.process.pid)

    statuses, mismatches = send_all(server.url, kinds, count=None, until=time.monotonic() + SOAK_SECONDS)

    after = worker_memory(server.process.pid)
    total = sum(statuses.values())
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    print(f"\nsoak: {total} requests in {SOAK_SECONDS:.0f} s from {CLIENTS} clients; statuses {dict(statuses)}")
    for pid in sorted(before):
        (rss0, uss0), (rss1, uss1) = before[pid], after.get(pid, (0, 0))
        print(
            f"worker {pid}: RSS {rss0 / MIB:.1f} -> {rss1 / MIB:.1f} MiB, USS {uss0 / MIB:.1f} -> {uss1 / MIB:.1f} MiB"
        )
    assert server_errors == 0, statuses
    assert not mismatches, mismatches
    assert total >= len(kinds), "the soak sent almost nothing"
    assert set(after) == set(before), "a worker was replaced during the soak"
    for pid, (_, uss) in after.items():
        assert uss - before[pid][1] < MAX_USS_GROWTH_PER_WORKER, (pid, before[pid], after[pid])
