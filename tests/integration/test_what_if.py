"""What if, against a real server: a trace's overrides reach that request only, never another.

fold maps (1, 0) to ReLU(W·(1, 0)) = (1, 0) with its declared W = [[1, 0.5], [-0.5, 1]]. A trace
that replaces W by [[0, 1], [1, 0]] maps it to (0, 1). Both run at once, many times, in the
threads of the same workers: every infer must still get (1, 0).
"""

import shutil
from concurrent.futures import ThreadPoolExecutor

import requests

from .conftest import ROOT

TOKEN = "what-if-token"
POINT = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 0.0]}]}
SWAPPED = {**POINT, "parameters": {"weights": {"linear.weight": [[0, 1], [1, 0]]}}}
ROUNDS = 60


def _post(session, url, body):
    response = session.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_what_if_trace_never_reaches_a_concurrent_infer(start_server, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "fold", models / "fold")
    server = start_server(models, workers=1, env={"LAYERSERVE_INFER_TOKEN": TOKEN})
    trace_url, infer_url = f"{server.url}/v2/models/fold/trace", f"{server.url}/v2/models/fold/infer"

    def traces():
        with requests.Session() as session:
            return [_post(session, trace_url, SWAPPED) for _ in range(ROUNDS)]

    def infers():
        with requests.Session() as session:
            return [_post(session, infer_url, POINT)["outputs"][0]["data"] for _ in range(ROUNDS)]

    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(traces), pool.submit(infers), pool.submit(traces), pool.submit(infers)]
        traced = jobs[0].result() + jobs[2].result()
        inferred = jobs[1].result() + jobs[3].result()

    assert all(document["outputs"][0]["data"] == [0.0, 1.0] for document in traced)
    assert all(document["overrides"]["weights"] == {"linear.weight": [2, 2]} for document in traced)
    assert inferred == [[1.0, 0.0]] * (2 * ROUNDS)
    with requests.Session() as session:
        plain = _post(session, trace_url, POINT)
    assert plain["outputs"][0]["data"] == [1.0, 0.0] and plain["overrides"] == {"weights": {}, "activations": {}}


def test_a_what_if_needs_the_inference_token(start_server, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "fold", models / "fold")
    server = start_server(models, workers=1, env={"LAYERSERVE_INFER_TOKEN": TOKEN})
    response = requests.post(f"{server.url}/v2/models/fold/trace", json=SWAPPED, timeout=10)
    assert response.status_code == 401 and "token" in response.json()["error"]
