"""A real gunicorn server: broken models beside good ones, every worker serving, graceful exit."""

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests

pytestmark = pytest.mark.integration

FOLD_REQUEST = {"inputs": [{"name": "x", "shape": [3, 2], "datatype": "FP32", "data": [[1, 0], [0, 1], [1, 1]]}]}
FOLD_RESULT = [1, 0, 0.5, 1, 1.5, 0.5]


def add_broken_model(models: Path) -> str:
    broken = models / "broken"
    broken.mkdir()
    (broken / "model.yaml").write_text(
        "inputs: [{name: x, shape: [3]}]\n"
        "init: {seed: 0}\n"
        "layers:\n"
        "  - {name: fc1, type: Linear, in_features: 3, out_features: 4}\n"
        "  - {name: fc2, type: Linear, in_features: 5, out_features: 1}\n"
    )
    return (
        "layer 'fc2' (#1, Linear) expects 5 features in the last dimension, but layer 'fc1' gives per-sample shape [4]"
    )


def test_a_broken_model_is_reported_and_the_rest_are_served(start_server, models_copy):
    message = add_broken_model(models_copy)
    server = start_server(models_copy)

    listing = {m["name"]: m for m in requests.get(f"{server.url}/v2/models").json()["models"]}
    assert listing["broken"]["state"] == "UNAVAILABLE"
    assert message in listing["broken"]["reason"]
    assert all(m["ready"] for name, m in listing.items() if name != "broken")

    refused = requests.post(f"{server.url}/v2/models/broken/infer", json=FOLD_REQUEST)
    assert refused.status_code == 400
    assert message in refused.json()["error"]
    assert requests.get(f"{server.url}/v2/health/ready").status_code == 200

    served = requests.post(f"{server.url}/v2/models/fold/infer", json=FOLD_REQUEST)
    assert served.json()["outputs"][0]["data"] == FOLD_RESULT


def test_validate_reports_the_same_message_and_fails(models_copy):
    message = add_broken_model(models_copy)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("layerserve")), "validate", str(models_copy)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert "ok   fold v1" in result.stdout


def test_every_worker_serves_the_same_numbers(start_server, models_copy):
    server = start_server(models_copy, workers=2)

    def call(_):
        # No session: each request on a new connection, so the kernel spreads them over workers.
        return requests.post(f"{server.url}/v2/models/fold/infer", json=FOLD_REQUEST, timeout=10)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(call, range(200)))
    assert {r.status_code for r in responses} == {200}
    assert all(r.json()["outputs"][0]["data"] == FOLD_RESULT for r in responses)
    records = request_records(server.log())
    assert len([r for r in records if r["path"].endswith("/infer")]) >= 200
    assert len({r["pid"] for r in records if r["path"].endswith("/infer")}) == 2


def request_records(log: str) -> list[dict]:
    """The server's one-JSON-line-per-request log records."""
    lines = (line for line in log.splitlines() if line.startswith("{"))
    return [record for record in map(json.loads, lines) if record.get("event") == "request"]


def test_request_id_reaches_the_request_log(start_server, models_copy):
    server = start_server(models_copy)
    response = requests.get(f"{server.url}/v2/models/nope", headers={"X-Request-ID": "trace-me-42"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "trace-me-42"
    assert response.json()["request_id"] == "trace-me-42"
    infer = requests.post(f"{server.url}/v2/models/fold/infer", json=FOLD_REQUEST)
    records = request_records(server.stop())
    (missing,) = [r for r in records if r["request_id"] == "trace-me-42"]
    assert missing["status"] == 404 and "unknown model 'nope'" in missing["error"]
    (served,) = [r for r in records if r["request_id"] == infer.headers["X-Request-ID"]]
    assert served["model"] == "fold" and served["batch_size"] == 3 and served["status"] == 200


def test_sigterm_stops_the_server_cleanly(start_server, models_copy):
    server = start_server(models_copy)
    log = server.stop()
    assert server.process.returncode == 0
    assert "Shutting down" in log


def test_the_metrics_directory_is_removed_on_exit_even_after_a_reload(start_server, models_copy, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = start_server(models_copy, workers=1, env={"TMPDIR": str(tmp)})
    (made,) = tmp.glob("layerserve-metrics-*")
    assert (made / "health").is_dir()
    before = {child.pid for child in psutil.Process(server.process.pid).children()}
    server.process.send_signal(signal.SIGHUP)  # gunicorn reloads: its config file runs again
    deadline = time.monotonic() + 60
    while {child.pid for child in psutil.Process(server.process.pid).children()} & before:
        assert time.monotonic() < deadline, "the workers were not replaced"
        time.sleep(0.1)
    assert requests.post(f"{server.url}/v2/models/fold/infer", json=FOLD_REQUEST, timeout=30).status_code == 200
    assert list(tmp.glob("layerserve-metrics-*")) == [made]
    server.stop()
    assert server.process.returncode == 0
    assert list(tmp.glob("layerserve-metrics-*")) == []


def test_activation_health_sums_over_every_worker(start_server, models_copy):
    server = start_server(models_copy, workers=2, env={"LAYERSERVE_HEALTH_SAMPLE_EVERY": "1"})

    def call(_):
        return requests.post(f"{server.url}/v2/models/fold/infer", json=FOLD_REQUEST, timeout=10)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert {r.status_code for r in pool.map(call, range(120))} == {200}
    report = requests.get(f"{server.url}/v2/models/fold/health").json()
    assert report["forward_passes"] == 120 and report["samples"] == 360
    (act,) = report["layers"]
    assert act["per_neuron"] == [0.0, pytest.approx(1 / 3)]
    served_by = {r["pid"] for r in request_records(server.stop()) if r["path"].endswith("/infer")}
    assert len(served_by) == 2


def test_workers_start_with_lean_memory_settings(live_server):
    port = live_server.rsplit(":", 1)[1]
    masters = [
        p for p in psutil.process_iter(["cmdline", "environ"]) if f"LAYERSERVE_PORT={port}" in "\0".join(_env(p))
    ]
    assert masters, "no process serves the live server's port"
    for process in masters:
        environment = dict(item.split("=", 1) for item in _env(process) if "=" in item)
        assert environment["MALLOC_ARENA_MAX"] == "2" and environment["MKL_DISABLE_FAST_MM"] == "1"


def _env(process) -> list[str]:
    return [f"{key}={value}" for key, value in (process.info.get("environ") or {}).items()]


def test_workers_compute_linear_stacks_with_numpy_and_the_rest_with_torch(live_server):
    def backend(model):
        return requests.get(f"{live_server}/v2/models/{model}/layers", timeout=10).json()["serving_backend"]

    assert backend("fold") == backend("sine") == "numpy"
    assert backend("classifier") == "torch"  # its norms and Softmax have no numpy step
