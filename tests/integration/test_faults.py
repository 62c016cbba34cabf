"""Faults with real processes: a worker killed under load, a graceful stop, a request out of time.

The server is the container's command (gunicorn, gthread workers). Load comes from threads
using the shipped client, which retries idempotent requests on connection errors and 503.
"""

import json
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
import torch
from layerserve_client import Client, ServerError

from service.stack import load_stack

from .conftest import ROOT

pytestmark = pytest.mark.integration

WAIT_DEADLINE = 60.0  # for a worker to be replaced, a request to arrive: never reached unless broken
LOAD_THREADS = 8
FOLD_X = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
FOLD_EXPECTED = [[1.0, 0.0], [0.5, 1.0], [1.5, 0.5]]

# Sixteen 1024-wide Linear layers with ReLUs between (nothing to merge): a full batch takes a
# noticeable while, long enough to still be running when the server is told to stop.
SLOW_WIDTH = 1024
SLOW_MODEL = "inputs: [{name: x, shape: [1024]}]\ninit: {seed: 0}\nlayers:\n" + "".join(
    f"  - {{name: fc{i}, type: Linear, out_features: {SLOW_WIDTH}}}\n  - {{name: act{i}, type: ReLU}}\n"
    for i in range(16)
)


def workers_of(server) -> set[int]:
    return {child.pid for child in psutil.Process(server.process.pid).children()}


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_a_worker_killed_under_load_is_replaced_and_no_request_is_lost(start_server, caplog):
    server = start_server(ROOT / "models", workers=2)
    before = workers_of(server)
    answers, failures, stop = [], [], threading.Event()

    def load():
        with Client(server.url, inference_retries=6, backoff=0.05, backoff_max=1.0) as client:
            while not stop.is_set():
                try:
                    answers.append(client.infer("fold", {"x": FOLD_X}, as_numpy=False)["act"])
                    client.predict("classifier", np.zeros((16, 1, 28, 28), dtype=np.float32))
                except Exception as exc:  # noqa: BLE001 - any failure is a lost request
                    failures.append(repr(exc))

    with caplog.at_level(logging.INFO, logger="layerserve_client"), ThreadPoolExecutor(LOAD_THREADS) as pool:
        for _ in range(LOAD_THREADS):
            pool.submit(load)
        wait_for(lambda: len(answers) >= 50, "50 answers before the kill")
        victim = min(before)
        psutil.Process(victim).send_signal(signal.SIGKILL)
        wait_for(lambda: len(workers_of(server)) == 2 and victim not in workers_of(server), "a replacement worker")
        replaced_at = len(answers)
        wait_for(lambda: len(answers) >= replaced_at + 50, "50 answers after the replacement")
        stop.set()

    retries = [r for r in caplog.records if r.name == "layerserve_client.client" and "retry" in r.getMessage()]
    print(f"\n{len(answers)} infer answers, {len(failures)} failures, {len(retries)} retries around the kill")
    assert failures == []
    assert retries, "the kill hit no request in flight"
    assert all(answer == FOLD_EXPECTED for answer in answers)
    after = workers_of(server)
    assert victim not in after and len(after) == 2 and after - before
    log = server.stop()
    assert f"Worker (pid:{victim}) was sent SIGKILL" in log
    assert "warmed up its models" in log.split(f"Worker (pid:{victim}) was sent SIGKILL", 1)[1]


def binary_request(rows: np.ndarray) -> tuple[bytes, dict]:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": list(rows.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    return header + rows.astype("<f4").tobytes(), headers


def output_rows(response: requests.Response) -> np.ndarray:
    length = int(response.headers["Inference-Header-Content-Length"])
    (output,) = json.loads(response.content[:length])["outputs"]
    return np.frombuffer(response.content[length:], dtype="<f4").reshape(output["shape"])


def worker_cpu_seconds(server) -> float:
    return sum(sum(worker.cpu_times()[:2]) for worker in psutil.Process(server.process.pid).children())


def test_sigterm_answers_the_requests_in_flight_before_exiting(start_server, tmp_path):
    (tmp_path / "models" / "slow").mkdir(parents=True)
    (tmp_path / "models" / "slow" / "model.yaml").write_text(SLOW_MODEL)
    server = start_server(tmp_path / "models", workers=1)
    rows = np.random.default_rng(0).standard_normal((1024, SLOW_WIDTH)).astype(np.float32)
    body, headers = binary_request(rows)

    def send(_):
        return requests.post(f"{server.url}/v2/models/slow/infer", data=body, headers=headers, timeout=WAIT_DEADLINE)

    idle = worker_cpu_seconds(server)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(send, n) for n in range(4)]
        # The worker computing is the sign the requests are in. It runs one at a time, each a
        # full pass of ~0.25 s here: none is done when it has computed 0.1 s.
        wait_for(lambda: worker_cpu_seconds(server) > idle + 0.1, "the worker to compute the requests")
        assert not any(f.done() for f in futures), "the requests finished before the stop; make them longer"
        server.process.send_signal(signal.SIGTERM)
        responses = [future.result() for future in futures]
    assert server.process.wait(timeout=WAIT_DEADLINE) == 0
    assert [r.status_code for r in responses] == [200] * 4
    outputs = [output_rows(r) for r in responses]
    _, stack = load_stack(tmp_path / "models" / "slow")
    with torch.no_grad():
        (expected,) = stack(torch.from_numpy(rows[:8]))
    for output in outputs:
        assert output.shape == (1024, SLOW_WIDTH)
        np.testing.assert_allclose(output[:8], expected.numpy(), rtol=1e-4, atol=1e-6)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/v2/health/live", timeout=5)
    assert "Shutting down" in server.stop()


def test_a_request_past_the_infer_timeout_is_cut_reported_and_the_server_serves_on(start_server, tmp_path):
    models = tmp_path / "models"
    (models / "slow").mkdir(parents=True)
    (models / "slow" / "model.yaml").write_text(SLOW_MODEL)
    (models / "fold").mkdir()
    (models / "fold" / "model.yaml").write_text((ROOT / "models" / "fold" / "model.yaml").read_text())
    server = start_server(models, workers=1, env={"LAYERSERVE_INFER_TIMEOUT": "0.05"})
    before = workers_of(server)
    rows = np.random.default_rng(0).standard_normal((256, SLOW_WIDTH)).astype(np.float32)
    with Client(server.url) as client:
        with pytest.raises(ServerError) as caught:
            client.infer("slow", {"x": rows})
        assert caught.value.status_code == 504
        assert "ran past the time limit of 0.05 s (LAYERSERVE_INFER_TIMEOUT)" in caught.value.message
        assert "stopped before layer" in caught.value.message
        assert client.infer("fold", {"x": FOLD_X}, as_numpy=False)["act"] == FOLD_EXPECTED
        assert client.is_ready()
    assert workers_of(server) == before  # cut by the service, not by killing the worker
    records = [json.loads(line) for line in server.stop().splitlines() if line.startswith('{"ts"')]
    (cut,) = [r for r in records if r["path"] == "/v2/models/slow/infer"]
    assert cut["status"] == 504 and "ran past the time limit" in cut["error"]


def test_slow_model_is_slow_enough_to_matter(tmp_path):
    """The slow model is what the drain test relies on: its full batch does real work in every layer."""
    folder = Path(tmp_path / "slow")
    folder.mkdir()
    (folder / "model.yaml").write_text(SLOW_MODEL)
    definition, stack = load_stack(folder)
    assert len(definition.layers) == 32
    assert sum(p.numel() for p in stack.parameters()) == 16 * (SLOW_WIDTH * SLOW_WIDTH + SLOW_WIDTH)
