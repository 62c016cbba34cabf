"""Shared by the API tests: where the bundled models are, apps over model folders, request builders."""

import shutil
from pathlib import Path

from service.app import create_app

MODELS = Path(__file__).parents[2] / "models"
REQUEST_ID = "X-Request-ID"


def app_over(models_dir: Path, **config):
    return create_app({"MODELS_DIR": str(models_dir), "LOG_LEVEL": "warning", **config})


def write_models(root: Path, folders: dict[str, str | None]) -> Path:
    """Model folders under `root`: a YAML text becomes <name>/model.yaml; None copies the bundled model."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in folders.items():
        if text is None:
            shutil.copytree(MODELS / name, root / name)
        else:
            (root / name).mkdir()
            (root / name / "model.yaml").write_text(text, encoding="utf-8")
    return root


def infer_body(name: str, data, shape=None, datatype="FP32", **extra) -> dict:
    """An Open Inference Protocol request with one input; shape defaults to that of nested data."""
    return {"inputs": [tensor(name, data, shape, datatype)], **extra}


def tensor(name: str, data, shape=None, datatype="FP32") -> dict:
    return {
        "name": name,
        "shape": shape if shape is not None else nested_shape(data),
        "datatype": datatype,
        "data": data,
    }


def nested_shape(data) -> list[int]:
    shape = []
    while isinstance(data, list):
        shape.append(len(data))
        data = data[0] if data else None
    return shape


def output(response, name: str) -> dict:
    """One output tensor of a successful infer response."""
    assert response.status_code == 200, response.get_json()
    (found,) = [o for o in response.get_json()["outputs"] if o["name"] == name]
    return found


def error_of(response) -> str:
    """The error message of a failed request, after checking the one error shape every failure has."""
    assert response.is_json, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error", "request_id"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert body["request_id"] == response.headers[REQUEST_ID]
    return body["error"]
