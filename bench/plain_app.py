"""The reference: the server a user writes in an afternoon, with none of layerserve's code.

Each model is a torch.nn.Sequential built by hand from its model.yaml's layer list, with the
weights from a safetensors file (bench/reference.py writes them); requests are read with
json.loads and answered with json.dumps in a flask.Response; gunicorn runs it with 2 sync
workers and one torch thread each (plain_gunicorn.conf.py).
"""

import json
import os
from pathlib import Path

import torch
import yaml
from flask import Flask, Response, request
from safetensors.torch import load_file

LAYERS = {
    "Linear": lambda layer: torch.nn.Linear(layer["in_features"], layer["out_features"]),
    "ReLU": lambda layer: torch.nn.ReLU(),
    "GELU": lambda layer: torch.nn.GELU(),
}


def build_model(folder: Path, weights: Path) -> torch.nn.Sequential:
    definition = yaml.safe_load((folder / "model.yaml").read_text())
    model = torch.nn.Sequential(*(LAYERS[layer["type"]](layer) for layer in definition["layers"]))
    model.load_state_dict(load_file(weights))
    return model.eval()


def load_models(models_dir: Path, weights_dir: Path) -> dict[str, torch.nn.Sequential]:
    return {
        folder.name: build_model(folder, weights_dir / f"{folder.name}.safetensors")
        for folder in sorted(models_dir.iterdir())
        if (folder / "model.yaml").is_file()
    }


def create_app() -> Flask:
    models = load_models(Path(os.environ["BENCH_MODELS"]), Path(os.environ["BENCH_WEIGHTS"]))
    app = Flask(__name__)

    @app.get("/v2/health/ready")
    def ready():
        return Response(json.dumps({"ready": True}), mimetype="application/json")

    @app.get("/v2/models")
    def model_list():
        listing = [{"name": name, "state": "READY"} for name in models]
        return Response(json.dumps({"models": listing}), mimetype="application/json")

    @app.post("/v2/models/<name>/infer")
    def infer(name):
        body = json.loads(request.get_data())
        tensor = body["inputs"][0]
        x = torch.tensor(tensor["data"], dtype=torch.float32).reshape(tensor["shape"])
        with torch.no_grad():
            y = models[name](x)
        output = {"name": "output", "datatype": "FP32", "shape": list(y.shape), "data": y.flatten().tolist()}
        return Response(json.dumps({"model_name": name, "outputs": [output]}), mimetype="application/json")

    return app
