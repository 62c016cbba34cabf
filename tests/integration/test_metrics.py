"""GET /metrics on a real gunicorn with two workers: totals over both, agreeing with the request log."""

import os
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from .test_server import FOLD_REQUEST, add_broken_model, request_records

pytestmark = pytest.mark.integration

BATCHED_FOLD = """\
name: batched_fold
dynamic_batching: {max_queue_delay_microseconds: 2000, preferred_batch_size: [8]}
inputs: [{name: x, shape: [2]}]
layers:
  - {name: linear, type: Linear, in_features: 2, out_features: 2, weight: [[1.0, 0.5], [-0.5, 1.0]], bias: [0, 0]}
"""
BAD_SHAPE = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}

# (method, path, body) → how many times; every kind of answer: 200, 400, 404, and V1 beside V2.
TRAFFIC = {
    ("v2", "fold", 200): ("/v2/models/fold/infer", FOLD_REQUEST, 60),
    ("v2", "fold", 400): ("/v2/models/fold/infer", BAD_SHAPE, 15),
    ("v2", "batched_fold", 200): ("/v2/models/batched_fold/infer", FOLD_REQUEST, 40),
    ("v2", "", 404): ("/v2/models/nope/infer", FOLD_REQUEST, 10),
    ("v2", "broken", 400): ("/v2/models/broken/infer", FOLD_REQUEST, 5),
    ("v1", "recipe", 200): ("/v1/models/recipe:predict", {"instances": [[1, 2, 3], [2, 4, 6]]}, 20),
    ("v1", "recipe", 400): ("/v1/models/recipe:predict", {"instances": [[1, 2]]}, 5),
}


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """Every sample of /metrics: {sample name: {sorted label items: value}}."""
    response = requests.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def requests_by_label(samples) -> Counter:
    return Counter(
        {
            (labels["protocol"], labels["model"], int(labels["status"])): value
            for labels, value in (
                (dict(items), value) for items, value in samples["layerserve_inference_requests_total"].items()
            )
        }
    )


def send_traffic(url: str) -> Counter:
    calls = [(key, path, body) for key, (path, body, times) in TRAFFIC.items() for _ in range(times)]

    def call(item):
        key, path, body = item
        # No session: every request on a new connection, so the kernel spreads them over both workers.
        response = requests.post(f"{url}{path}", json=body, timeout=10)
        assert response.status_code == key[2], response.text
        return key

    with ThreadPoolExecutor(max_workers=8) as pool:
        return Counter(pool.map(call, calls))


def test_metrics_count_every_request_over_both_workers(start_server, models_copy):
    add_broken_model(models_copy)
    (models_copy / "batched_fold").mkdir()
    (models_copy / "batched_fold" / "model.yaml").write_text(BATCHED_FOLD)
    server = start_server(models_copy, workers=2)

    sent = send_traffic(server.url)
    samples = scrape(server.url)
    assert requests_by_label(samples) == sent
    assert scrape(server.url)["layerserve_inference_requests_total"] == samples["layerserve_inference_requests_total"]

    def value(name, **labels):
        return samples[name][tuple(sorted(labels.items()))]

    fold_ok, batched_ok = sent[("v2", "fold", 200)], sent[("v2", "batched_fold", 200)]
    assert value("layerserve_inference_request_duration_seconds_count", model="fold", protocol="v2") == fold_ok + 15
    assert value("layerserve_batch_size_sum", model="fold") == 3 * fold_ok  # rows, without warm-up passes
    assert value("layerserve_compute_duration_seconds_count", model="fold") == fold_ok
    assert value("layerserve_queue_duration_seconds_count", model="batched_fold") == batched_ok
    assert value("layerserve_batch_size_sum", model="batched_fold") == 3 * batched_ok
    assert (("model", "fold"),) not in samples["layerserve_queue_duration_seconds_count"]  # fold does not batch
    assert value("layerserve_model_state", model="fold", version="1", state="READY") == 1
    assert value("layerserve_model_state", model="broken", version="", state="UNAVAILABLE") == 1
    assert value("layerserve_model_state", model="broken", version="", state="READY") == 0

    records = [r for r in request_records(server.stop()) if r["path"].endswith(("/infer", ":predict"))]
    assert len({r["pid"] for r in records}) == 2, "every request landed on one worker"
    logged = Counter(
        ("v1" if r["path"].startswith("/v1/") else "v2", r["model"] if r["model"] != "nope" else "", r["status"])
        for r in records
    )
    assert logged == sent


def test_a_killed_workers_counts_stay_in_the_totals(start_server, models_copy):
    server = start_server(models_copy, workers=2)
    url = f"{server.url}/v2/models/fold/infer"
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(lambda _: requests.post(url, json=FOLD_REQUEST, timeout=10).status_code, range(40))) == {
            200
        }
    workers = psutil.Process(server.process.pid).children()
    assert len(workers) == 2
    os.kill(workers[0].pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while len({p.pid for p in psutil.Process(server.process.pid).children()} - {w.pid for w in workers}) == 0:
        assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
        time.sleep(0.1)
    requests.post(url, json=FOLD_REQUEST, timeout=10).raise_for_status()
    totals = [requests_by_label(scrape(server.url))[("v2", "fold", 200)] for _ in range(4)]
    assert totals == [41] * 4
