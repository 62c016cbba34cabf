"""No model file and no client can stall a real server: hostile folders and requests (bench/hostile.py)
against gunicorn, hot loads that must give the reload lock back, budgets, and what is echoed."""

import resource
import subprocess
import time

import numpy as np
import pytest
import requests
from layerserve_client import BadRequest, Client

from bench.hostile import FOLDERS, MAX_ERROR_BYTES, SETTINGS, attacks, log_problems, send, write_hostile_folders

from ..api.helpers import write_models
from .conftest import ServerProcess, container_command
from .test_server import request_records

ADMIN_TOKEN, INFER_TOKEN = "admin-secret", "infer-secret"
GOOD = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, -1.0]}]}


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    models = tmp_path_factory.mktemp("hostile") / "models"
    write_models(models, {"fold": None, "matcher": None, "sine": None})
    write_hostile_folders(models)
    # start() waits at most STARTUP_DEADLINE: the slow folder alone would hold the master for minutes
    server = ServerProcess(models, env=SETTINGS).start()
    yield server
    server.stop()


def test_the_good_models_serve_within_seconds_beside_every_hostile_folder(hostile_server):
    listing = {m["name"]: m for m in requests.get(f"{hostile_server.url}/v2/models", timeout=10).json()["models"]}
    for name, (_, reason) in FOLDERS.items():
        if reason is not None:
            assert listing[name]["state"] == "UNAVAILABLE", name
            assert reason in listing[name]["reason"], (name, listing[name]["reason"])
            assert "hunter2" not in listing[name]["reason"] and "db_password" not in listing[name]["reason"]
    assert all(listing[name]["ready"] for name in ("fold", "matcher", "sine", "growing_answer"))
    assert requests.post(f"{hostile_server.url}/v2/models/fold/infer", json=GOOD, timeout=10).status_code == 200


@pytest.mark.parametrize("attack", attacks(), ids=lambda attack: attack.name)
def test_a_hostile_request_gets_a_short_clear_error(hostile_server, attack):
    outcome = send(hostile_server.url, attack)
    assert outcome.problem is None, outcome.problem
    assert outcome.size <= MAX_ERROR_BYTES


def test_the_log_lines_stay_short_whatever_was_sent(hostile_server):
    big = "N" * 30 * 1024 * 1024  # twice: the body stays under its 64 MiB limit
    body = {"inputs": [{"name": big, "shape": [1, 2], "datatype": big, "data": [1.0, 2.0]}]}
    headers = {"X-Request-ID": "echo-check"}
    assert requests.post(f"{hostile_server.url}/v2/models/fold/infer", json=body, headers=headers).status_code == 400
    # the log is a file the server writes as it goes: poll for the line
    deadline = time.monotonic() + 10
    while not (records := [r for r in request_records(hostile_server.log()) if r["request_id"] == "echo-check"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "bytes)" in records[0]["error"]
    assert log_problems(hostile_server.log()) == []
    assert max(len(line) for line in hostile_server.log().splitlines()) < MAX_ERROR_BYTES


def test_the_client_does_not_retry_a_model_that_failed_to_load(hostile_server):
    with Client(hostile_server.url, inference_retries=3, backoff=0.01) as client:
        assert client.is_model_ready("alias_bomb") is False
        assert client.is_model_ready("fold") is True
        with pytest.raises(BadRequest, match="'alias_bomb' is unavailable: .*anchors and aliases") as refused:
            client.infer("alias_bomb", {"x": np.array([[1.0, 2.0]], np.float32)})
        assert refused.value.status_code == 400
        with pytest.raises(BadRequest, match="unavailable"):
            client.model_metadata("alias_bomb")
    deadline = time.monotonic() + 10
    while not (seen := [r for r in request_records(hostile_server.log()) if r["path"].endswith("alias_bomb/infer")]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len([r for r in seen if r.get("status") == 400]) == len(seen) <= 2  # the attack's own, and ours once


SLOW = FOLDERS["slow"][0]
BOMB = FOLDERS["alias_in_weight"][0]


def test_a_hot_load_that_is_hostile_or_slow_gives_the_reload_lock_back(start_server, tmp_path):
    models = write_models(tmp_path / "models", {"fold": None})
    env = {**SETTINGS, "LAYERSERVE_ADMIN_TOKEN": ADMIN_TOKEN, "LAYERSERVE_INFER_TOKEN": INFER_TOKEN}
    server = start_server(models, env=env)
    with Client(server.url, admin_token=ADMIN_TOKEN, token=INFER_TOKEN, inference_retries=0) as client:
        write_models(models, {"bomb": BOMB, "slow": SLOW})
        with pytest.raises(BadRequest, match="anchors and aliases are not accepted"):
            client.load_model("bomb")
        # without its time limit this load would run for minutes and hold the lock meanwhile
        with pytest.raises(BadRequest, match="LAYERSERVE_LOAD_TIMEOUT"):
            client.load_model("slow", timeout=60)
        assert client.load_model("fold", timeout=20)["state"] == "READY"  # the lock is free again
        assert client.infer("fold", [[1.0, -1.0]]).output().tolist() == [[0.5, 0.0]]


def test_layer_values_need_the_inference_token_and_the_summary_stays_open(start_server, tmp_path):
    models = write_models(tmp_path / "models", {"fold": None})
    server = start_server(models, env={"LAYERSERVE_INFER_TOKEN": INFER_TOKEN})
    layer = f"{server.url}/v2/models/fold/layers/linear"
    summary = requests.get(layer, timeout=10)
    assert summary.status_code == 200 and "values" not in summary.json()["parameters"][0]
    refused = requests.get(layer + "?values=true", timeout=10)
    assert refused.status_code == 401
    assert "values" not in refused.text
    given = requests.get(layer + "?values=true", headers={"Authorization": f"Bearer {INFER_TOKEN}"}, timeout=10)
    assert given.json()["parameters"][0]["values"] == [[1.0, 0.5], [-0.5, 1.0]]


GROWING = "inputs: [{name: x, shape: [1, 4]}]\nlayers: [{name: grow, type: AdaptiveAvgPool1d, output_size: 10000000}]\n"


class AddressSpaceLimitedServer(ServerProcess):
    """A server that cannot map more than `limit` bytes per process: an allocation past it fails
    as it would on a machine short of memory, on any machine, without touching its memory."""

    limit = 6 * 1024**3

    def start(self) -> "ServerProcess":
        def limited():
            resource.setrlimit(resource.RLIMIT_AS, (self.limit, self.limit))

        self.process = subprocess.Popen(
            container_command(), env=self.env, stdout=self.log_file, stderr=subprocess.STDOUT, preexec_fn=limited
        )
        self._wait_ready()
        return self


def test_an_allocation_failure_answers_503_naming_what_it_tried(tmp_path):
    models = write_models(tmp_path / "models", {"grow": GROWING})
    budgets = {"LAYERSERVE_MAX_REQUEST_VALUES": str(10**12), "LAYERSERVE_MAX_ANSWER_VALUES": str(10**12)}
    server = AddressSpaceLimitedServer(models, workers=1, env=budgets).start()
    try:
        batch = {"inputs": [{"name": "x", "shape": [1024, 1, 4], "datatype": "FP32", "data": [0.0] * 4096}]}
        refused = requests.post(f"{server.url}/v2/models/grow/infer", json=batch, timeout=60)
        assert refused.status_code == 503, refused.text
        assert "short of memory" in refused.json()["error"]
        assert "40960000000 bytes" in refused.json()["error"]  # 1,024 × 10,000,000 float32 values
        one = {"inputs": [{"name": "x", "shape": [1, 1, 4], "datatype": "FP32", "data": [1.0] * 4}]}
        served = requests.post(f"{server.url}/v2/models/grow/infer", json=one, timeout=60)
        assert served.status_code == 200
    finally:
        server.stop()


def test_a_request_over_the_budget_names_it_and_the_largest_batch_that_fits(hostile_server):
    batch = {"inputs": [{"name": "x", "shape": [5, 1, 4], "datatype": "FP32", "data": [0.0] * 20}]}
    refused = requests.post(f"{hostile_server.url}/v2/models/growing_answer/infer", json=batch, timeout=30)
    assert refused.status_code == 413
    assert refused.json()["error"] == (
        "a batch of 5 for model 'growing_answer' needs 5,000,000 output values in its answer, over the limit of "
        "4,194,304 a request may make (LAYERSERVE_MAX_ANSWER_VALUES); the largest batch that fits is 4"
    )
    batch["inputs"][0].update(shape=[4, 1, 4], data=[0.0] * 16)
    assert requests.post(f"{hostile_server.url}/v2/models/growing_answer/infer", json=batch, timeout=60).ok
