"""What metrics cost an inference request: the WSGI app called in-process, with and without them.

    .venv/bin/python -m bench.metrics_overhead [--requests 10000] [--rounds 5]

Runs in prometheus_client's multiprocess mode, as under gunicorn (a temporary
PROMETHEUS_MULTIPROC_DIR, set before anything imports prometheus_client). Each round times the
same infer request through each app in turn; the median round is reported, in µs of CPU time
per request (CPU time, not wall time: on a shared machine other processes stretch wall time).
The request log is off in both apps: it is not what is measured.
"""

import argparse
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
BODY = orjson.dumps({"inputs": [{"name": "point", "shape": [1, 2], "datatype": "FP32", "data": [0.5, 1.0]}]})


def environ() -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v2/models/dense/infer",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(BODY)),
        "wsgi.input": io.BytesIO(BODY),
    }


def time_requests(app, count: int) -> float:
    """CPU seconds per request through the app's WSGI callable (the loop runs in this thread)."""

    def start_response(status, headers):
        assert status.startswith("200"), status

    started = time.thread_time()
    for _ in range(count):
        app.wsgi_app(environ(), start_response)
    return (time.thread_time() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="layerserve-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        import torch

        from service.app import create_app

        torch.set_num_threads(1)  # as each server worker runs
        common = {"MODELS_DIR": str(ROOT / "models"), "REQUEST_LOG": False, "LOG_LEVEL": "warning"}
        apps = {
            "without metrics": create_app({**common, "METRICS": False}),
            "with metrics": create_app({**common, "METRICS": True, "METRICS_DIR": directory}),
        }
        for app in apps.values():
            time_requests(app, 1000)  # warm caches and lazily bound labels
        rounds = {label: [] for label in apps}
        for _ in range(args.rounds):
            for label, app in apps.items():
                rounds[label].append(time_requests(app, args.requests))
        medians = {label: statistics.median(times) * 1e6 for label, times in rounds.items()}
    for label, median in medians.items():
        print(f"{label:16} {median:7.1f} µs CPU/request (median of {args.rounds} rounds of {args.requests})")
    print(f"{'metrics cost':16} {medians['with metrics'] - medians['without metrics']:7.1f} µs CPU/request")


if __name__ == "__main__":
    main()
