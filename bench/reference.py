"""The in-process forward passes every server's answer is checked against, bit for bit, and the
plain app's weights.

    python -m bench.reference weights DIR   writes DIR/<model>.safetensors: each bench model's
                                            seeded weights as layerserve builds them, under
                                            torch.nn.Sequential's names (0.weight, 0.bias, ...)
    python -m bench.reference plain DIR     the plain app's forward pass: its own Sequential
                                            with those weights, in a process like its workers
                                            (no layerserve import, so none of its settings)
    python -m bench.reference layerserve    layerserve's: the served model, warmed up as in a worker
    python -m bench.reference naive         the naive app's: layerserve's LayerStack called directly

The last three print {"<model>/<case id>": output values} as JSON, on one torch thread.
Implementations may differ in the last bits (BLAS kernels, oneMKL's strict mode); what must
hold is that a server answers exactly what its own forward pass computes in-process.
"""

import json
import sys
from pathlib import Path

import torch

from .cases import CASES, INPUTS_LIKE, MODELS_DIR


def model_folders() -> list[Path]:
    return sorted(folder for folder in MODELS_DIR.iterdir() if (folder / "model.yaml").is_file())


def cases_of(folder: Path):
    like = INPUTS_LIKE.get(folder.name, folder.name)
    return [case for case in CASES if case.model == like]


def write_weights(weights_dir: Path) -> None:
    from safetensors.torch import save_file

    from service.stack import load_stack

    weights_dir.mkdir(parents=True, exist_ok=True)
    for folder in model_folders():
        _, stack = load_stack(folder)
        tensors = {
            f"{index}.{name}": tensor.contiguous()
            for index, module in enumerate(stack.layers)
            for name, tensor in module.state_dict().items()
        }
        save_file(tensors, weights_dir / f"{folder.name}.safetensors")


def plain_outputs(weights_dir: Path) -> dict[str, list[float]]:
    from .plain_app import build_model

    outputs = {}
    for folder in model_folders():
        model = build_model(folder, weights_dir / f"{folder.name}.safetensors")
        with torch.no_grad():
            for case in cases_of(folder):
                outputs[f"{folder.name}/{case.id}"] = model(torch.from_numpy(case.inputs())).flatten().tolist()
    return outputs


def layerserve_outputs() -> dict[str, list[float]]:
    from service.runtime.repository import ModelRepository

    repository = ModelRepository(MODELS_DIR, max_batch_size=1024)
    repository.load_all()
    repository.warm_up()
    outputs = {}
    for folder in model_folders():
        model = repository.get(folder.name)
        for case in cases_of(folder):
            (result,) = model.infer({"x": case.inputs()}).values()
            outputs[f"{folder.name}/{case.id}"] = result.ravel().tolist()
    return outputs


def naive_outputs() -> dict[str, list[float]]:
    from service.stack import load_stack

    outputs = {}
    for folder in model_folders():
        _, stack = load_stack(folder)
        with torch.no_grad():
            for case in cases_of(folder):
                (result,) = stack(torch.from_numpy(case.inputs()))
                outputs[f"{folder.name}/{case.id}"] = result.flatten().tolist()
    return outputs


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    what = argv[0]
    if what == "weights":
        write_weights(Path(argv[1]))
        print("{}")
    elif what == "plain":
        print(json.dumps(plain_outputs(Path(argv[1]))))
    elif what == "layerserve":
        print(json.dumps(layerserve_outputs()))
    elif what == "naive":
        print(json.dumps(naive_outputs()))
    else:
        raise SystemExit(f"unknown reference {what!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
