"""Hot reload under real gunicorn: a load or unload reaches every worker before it returns, and
no request fails while models are swapped."""

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
from layerserve_client import BadRequest, Client, Unauthorized

from ..api.helpers import write_models
from .test_server import FOLD_REQUEST, request_records

TOKEN = "reload-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SCALED = """
version: {version}
inputs: [{{name: x, shape: [2]}}]
layers:
  - {{name: scale, type: Linear, in_features: 2, out_features: 2, weight: [[{factor}, 0.0], [0.0, 1.0]], bias: [0, 0]}}
"""
BODY = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 1.0]}]}
WORKERS = 2


def write_scaled(models, factor: float, version: int) -> None:
    (models / "scaled" / "model.yaml").write_text(SCALED.format(factor=factor, version=version))


def start(start_server, tmp_path):
    models = write_models(tmp_path / "models", {"fold": None})
    (models / "scaled").mkdir()
    write_scaled(models, 2.0, 1)
    return models, start_server(models, workers=WORKERS, env={"LAYERSERVE_ADMIN_TOKEN": TOKEN})


def infer(server, request_id: str):
    # no session: each request on a new connection, so the kernel spreads them over the workers
    headers = {"X-Request-ID": request_id}
    return requests.post(f"{server.url}/v2/models/scaled/infer", json=BODY, headers=headers, timeout=30)


def ask_every_worker(server, label: str, pids: set[int], batch: int = 40, rounds: int = 10) -> list:
    """Concurrent requests until each of `pids` answered some (bounded); returns every response."""
    responses = []
    for round_ in range(rounds):
        ids = [f"{label}-{round_}-{i}" for i in range(batch)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses += list(pool.map(lambda request_id: infer(server, request_id), ids))
        served_by = {r["pid"] for r in request_records(server.log()) if r["request_id"].startswith(label)}
        if pids <= served_by:
            return responses
    raise AssertionError(f"workers {pids - served_by} answered none of {len(responses)} requests")


def worker_pids(server) -> set[int]:
    return {child.pid for child in psutil.Process(server.process.pid).children()}


def first_output(response) -> float:
    assert response.status_code == 200, response.text
    return response.json()["outputs"][0]["data"][0]


def test_a_load_reaches_every_worker_and_no_request_fails_during_the_swap(start_server, tmp_path):
    models, server = start(start_server, tmp_path)
    stop, seen, failures = threading.Event(), [], []

    def keep_asking():
        while not stop.is_set():
            try:
                response = infer(server, "during")
                (seen if response.status_code == 200 else failures).append(
                    response.json()["outputs"][0]["data"][0] if response.status_code == 200 else response.text
                )
            except requests.RequestException as error:
                failures.append(repr(error))

    load = threading.Thread(target=keep_asking)
    others = [threading.Thread(target=keep_asking) for _ in range(3)]
    for thread in [load, *others]:
        thread.start()
    time.sleep(0.5)
    write_scaled(models, 5.0, 2)
    response = requests.post(f"{server.url}/v2/repository/models/scaled/load", headers=ADMIN, timeout=60)
    after_load = ask_every_worker(server, "after-load", worker_pids(server))
    stop.set()
    for thread in [load, *others]:
        thread.join()

    assert response.status_code == 200, response.text
    assert response.json()["version"] == "2"
    assert failures == []
    assert set(seen) <= {2.0, 5.0} and 2.0 in seen
    assert {first_output(r) for r in after_load} == {5.0}


def test_an_unload_reaches_every_worker(start_server, tmp_path):
    _, server = start(start_server, tmp_path)
    response = requests.post(f"{server.url}/v2/repository/models/scaled/unload", headers=ADMIN, timeout=60)
    assert response.status_code == 200, response.text
    after = ask_every_worker(server, "after-unload", worker_pids(server))
    assert {r.status_code for r in after} == {400}
    assert all("unloaded" in r.json()["error"] for r in after)
    fold = requests.post(f"{server.url}/v2/models/fold/infer", json={**BODY, "inputs": [{**BODY["inputs"][0]}]})
    assert fold.status_code == 200


def test_a_worker_started_after_a_load_serves_the_loaded_version(start_server, tmp_path):
    models, server = start(start_server, tmp_path)
    write_scaled(models, 7.0, 3)
    assert requests.post(f"{server.url}/v2/repository/models/scaled/load", headers=ADMIN, timeout=60).status_code == 200
    before = worker_pids(server)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while not (new := worker_pids(server) - before):
        assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
        time.sleep(0.1)
    # normally one new worker; a busy machine may also have had gunicorn replace a slow one
    after = ask_every_worker(server, "after-restart", new)
    assert {first_output(r) for r in after} == {7.0}
    # the next load waits for the live workers only, not for the one that was killed
    write_scaled(models, 8.0, 4)
    assert requests.post(f"{server.url}/v2/repository/models/scaled/load", headers=ADMIN, timeout=60).status_code == 200
    assert {first_output(r) for r in ask_every_worker(server, "after-reload", worker_pids(server))} == {8.0}


def test_activation_health_of_a_loaded_model_sums_over_every_worker(start_server, tmp_path):
    models = write_models(tmp_path / "models", {"fold": None})
    env = {"LAYERSERVE_ADMIN_TOKEN": TOKEN, "LAYERSERVE_HEALTH_SAMPLE_EVERY": "1"}
    server = start_server(models, workers=WORKERS, env=env)
    with (models / "fold" / "model.yaml").open("a") as definition:
        definition.write("# edited: the workers load it afresh\n")
    assert requests.post(f"{server.url}/v2/repository/models/fold/load", headers=ADMIN, timeout=60).status_code == 200

    def call(index):
        # no session: new connections, spread over the workers
        headers = {"X-Request-ID": f"health-{index}"}
        return requests.post(f"{server.url}/v2/models/fold/infer", json=FOLD_REQUEST, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert {r.status_code for r in pool.map(call, range(120))} == {200}
    served_by = {r["pid"] for r in request_records(server.log()) if r["request_id"].startswith("health-")}
    assert served_by == worker_pids(server)
    report = requests.get(f"{server.url}/v2/models/fold/health", timeout=10).json()
    assert report["forward_passes"] == 120 and report["samples"] == 360  # counted afresh, in every worker
    (act,) = report["layers"]
    assert act["per_neuron"] == [0.0, pytest.approx(1 / 3)]


def test_the_client_drives_the_repository_with_its_tokens(start_server, tmp_path):
    models = write_models(tmp_path / "models", {"fold": None})
    (models / "scaled").mkdir()
    write_scaled(models, 2.0, 1)
    server = start_server(
        models, workers=1, env={"LAYERSERVE_ADMIN_TOKEN": TOKEN, "LAYERSERVE_INFER_TOKEN": "infer-token"}
    )
    with Client(server.url, token="infer-token", admin_token=TOKEN, inference_retries=0) as client:
        assert client.infer("scaled", [[1.0, 1.0]]).output().tolist() == [[2.0, 1.0]]
        write_scaled(models, 3.0, 2)
        assert client.load_model("scaled")["version"] == "2"
        assert client.infer("scaled", [[1.0, 1.0]]).output().tolist() == [[3.0, 1.0]]
        assert client.unload_model("scaled")["state"] == "UNAVAILABLE"
        assert {m["name"]: m["state"] for m in client.repository_index()} == {"fold": "READY", "scaled": "UNAVAILABLE"}
        assert [m["name"] for m in client.repository_index(ready=True)] == ["fold"]
        with pytest.raises(BadRequest, match="unavailable: unloaded"):
            client.infer("scaled", [[1.0, 1.0]])
    with Client(server.url, admin_token="wrong", inference_retries=0) as stranger:
        with pytest.raises(Unauthorized, match="not valid") as refused:
            stranger.load_model("fold")
        assert refused.value.status_code == 401
        with pytest.raises(Unauthorized, match="inference needs a bearer token"):
            stranger.infer("fold", [[1.0, 0.0]])
