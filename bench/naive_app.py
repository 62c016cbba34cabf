"""The baseline: a plain Flask app that runs the same model stacks with stdlib json and no validation."""

import logging
import os
from pathlib import Path

import torch
from flask import Flask, jsonify, request

from service.stack import load_stack

MODELS_DIR = Path(os.environ.get("BENCH_MODELS", Path(__file__).with_name("models")))

log = logging.getLogger(__name__)


def load_models(models_dir: Path) -> dict:
    """Every model folder that builds; the others (e.g. fields the stack does not know yet) are skipped."""
    models = {}
    for folder in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        try:
            _, stack = load_stack(folder)
        except Exception as exc:  # a baseline: log it and serve the rest
            log.warning("skipping model %s: %s", folder.name, exc)
            continue
        models[folder.name] = stack
    return models


def create_app(models: dict) -> Flask:
    app = Flask(__name__)

    @app.get("/v2/health/ready")
    def ready():
        return jsonify(ready=True)

    @app.get("/v2/models")
    def model_list():
        return jsonify(models=[{"name": name, "state": "READY"} for name in sorted(models)])

    @app.post("/v2/models/<name>/infer")
    def infer(name):
        stack = models[name]
        body = request.get_json()
        tensors = [torch.tensor(i["data"], dtype=torch.float32).reshape(i["shape"]) for i in body["inputs"]]
        with torch.no_grad():
            results = stack(*tensors)
        outputs = [
            {"name": output, "datatype": "FP32", "shape": list(result.shape), "data": result.flatten().tolist()}
            for output, result in zip(stack.output_names, results)
        ]
        return jsonify(model_name=name, outputs=outputs)

    return app


app = create_app(load_models(MODELS_DIR))
