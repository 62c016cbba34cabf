"""GET /metrics through Flask's test client: what each request adds, in one process."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .helpers import app_over, infer_body, write_models

FOLD_X = infer_body("x", [[1.0, 0.0], [0.0, 1.0]])
BATCHED = """\
dynamic_batching: {max_queue_delay_microseconds: 100, preferred_batch_size: [4]}
inputs: [{name: x, shape: [2]}]
init: {seed: 0}
layers: [{name: fc, type: Linear, out_features: 2}]
"""
BROKEN = "inputs: [{name: x, shape: [2]}]\nlayers: [{name: fc, type: Nope}]\n"


@pytest.fixture
def app(model_folders):
    return app_over(model_folders(fold=None, recipe=None, batched=BATCHED, broken=BROKEN), REQUEST_LOG=False)


@pytest.fixture
def client(app):
    return app.test_client()


def samples(client) -> dict[str, dict[frozenset, float]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    found: dict[str, dict[frozenset, float]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return found


def value(found, name, **labels) -> float:
    return found[name].get(frozenset(labels.items()), 0.0)


def test_nothing_is_counted_before_traffic_not_even_the_warm_up(client):
    found = samples(client)
    assert sum(found.get("layerserve_inference_requests_total", {}).values()) == 0
    assert value(found, "layerserve_compute_duration_seconds_count", model="fold") == 0
    assert value(found, "layerserve_queue_duration_seconds_count", model="batched") == 0


def test_requests_are_counted_by_model_protocol_and_status(client):
    for _ in range(3):
        assert client.post("/v2/models/fold/infer", json=FOLD_X).status_code == 200
    assert client.post("/v2/models/fold/infer", json=infer_body("x", [[1.0]])).status_code == 400
    assert client.get("/v2/models/fold/infer").status_code == 405
    assert client.post("/v1/models/recipe:predict", json={"instances": [[1, 2, 3]]}).status_code == 200
    assert client.post("/v2/models/broken/infer", json=FOLD_X).status_code == 400
    found = samples(client)
    counted = {tuple(sorted(labels)): count for labels, count in found["layerserve_inference_requests_total"].items()}
    assert counted == {
        (("model", "fold"), ("protocol", "v2"), ("status", "200")): 3,
        (("model", "fold"), ("protocol", "v2"), ("status", "400")): 1,
        (("model", "fold"), ("protocol", "v2"), ("status", "405")): 1,
        (("model", "recipe"), ("protocol", "v1"), ("status", "200")): 1,
        (("model", "broken"), ("protocol", "v2"), ("status", "400")): 1,
    }
    assert value(found, "layerserve_inference_request_duration_seconds_count", model="fold", protocol="v2") == 5
    assert value(found, "layerserve_inference_request_duration_seconds_sum", model="fold", protocol="v2") > 0


def test_unknown_model_names_share_one_empty_label(client):
    for name in ("nope", "other", "third"):
        assert client.post(f"/v2/models/{name}/infer", json=FOLD_X).status_code == 404
    found = samples(client)
    assert value(found, "layerserve_inference_requests_total", model="", protocol="v2", status="404") == 3
    assert not any(("model", "nope") in labels for labels in found["layerserve_inference_requests_total"])


def test_forward_passes_record_compute_time_and_rows(client):
    client.post("/v2/models/fold/infer", json=FOLD_X)
    client.post("/v2/models/fold/infer", json=infer_body("x", [[1.0, 0.0]] * 5))
    found = samples(client)
    assert value(found, "layerserve_compute_duration_seconds_count", model="fold") == 2
    assert value(found, "layerserve_batch_size_sum", model="fold") == 7
    assert value(found, "layerserve_batch_size_bucket", model="fold", le="2.0") == 1
    assert value(found, "layerserve_batch_size_bucket", model="fold", le="8.0") == 2
    assert not any(("model", "fold") in labels for labels in found["layerserve_queue_duration_seconds_count"])


def test_a_batched_model_records_its_queue_time(client):
    for _ in range(2):
        assert client.post("/v2/models/batched/infer", json=FOLD_X).status_code == 200
    found = samples(client)
    assert value(found, "layerserve_queue_duration_seconds_count", model="batched") == 2
    assert value(found, "layerserve_batch_size_sum", model="batched") == 4  # padding rows are not counted


def test_model_states(client):
    found = samples(client)
    assert value(found, "layerserve_model_state", model="fold", version="1", state="READY") == 1
    assert value(found, "layerserve_model_state", model="fold", version="1", state="LOADING") == 0
    assert value(found, "layerserve_model_state", model="broken", version="", state="UNAVAILABLE") == 1


def test_metrics_can_be_turned_off(model_folders):
    app = app_over(model_folders(fold=None), METRICS=False)
    client = app.test_client()
    assert client.post("/v2/models/fold/infer", json=FOLD_X).status_code == 200
    assert client.get("/metrics").status_code == 404


def test_a_model_loaded_after_start_is_counted_under_its_own_name(model_folders):
    folders = model_folders(fold=None)
    app = app_over(folders, REQUEST_LOG=False, ADMIN_TOKEN="t")
    client = app.test_client()
    write_models(folders, {"newcomer": BATCHED})
    assert client.post("/v2/models/newcomer/infer", json=FOLD_X).status_code == 404
    assert client.post("/v2/repository/models/newcomer/load", headers={"Authorization": "Bearer t"}).status_code == 200
    assert client.post("/v2/models/newcomer/infer", json=FOLD_X).status_code == 200
    found = samples(client)
    assert value(found, "layerserve_inference_requests_total", model="", protocol="v2", status="404") == 1
    assert value(found, "layerserve_inference_requests_total", model="newcomer", protocol="v2", status="200") == 1
    assert value(found, "layerserve_compute_duration_seconds_count", model="newcomer") == 1
    assert value(found, "layerserve_model_state", model="newcomer", version="1", state="READY") == 1
