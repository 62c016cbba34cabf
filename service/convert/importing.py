"""`layerserve import`: load a trained PyTorch Sequential, convert it, and publish it once verified.

A state dict is read with `torch.load(weights_only=True)` (or from safetensors), which refuses
anything but tensors and plain containers. A module saved whole is a pickle that can run any
code when loaded, so loading one needs the caller's explicit trust.
"""

import importlib
import importlib.util
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..errors import ConversionError
from .check import check_outputs, load_served, probe_inputs
from .model_folder import publish_model_folder
from .sequential import convert_sequential


def load_module_object(spec: str) -> nn.Module:
    """`path/to/file.py:name` or `package.module:name`; `name` is a module, or a callable that returns one."""
    source, _, attribute = spec.rpartition(":")
    if not source or not attribute:
        raise ConversionError(f"{spec!r}: expected FILE.py:NAME or MODULE:NAME")
    namespace = _import_file(Path(source)) if source.endswith(".py") else _import_module(source)
    try:
        found = _attribute(namespace, attribute)
    except AttributeError:
        raise ConversionError(f"{source} has no {attribute!r}") from None
    model = found() if callable(found) and not isinstance(found, nn.Module) else found
    if not isinstance(model, nn.Module):
        raise ConversionError(f"{spec} is {type(model).__name__}, not a torch.nn.Module")
    return model


def _import_file(path: Path):
    if not path.is_file():
        raise ConversionError(f"no such file {str(path)!r}")
    spec = importlib.util.spec_from_file_location(f"_layerserve_import_{path.stem}", path)
    namespace = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(namespace)
    return namespace


def _import_module(name: str):
    if "" not in sys.path:
        sys.path.insert(0, "")  # as `python -m` does: modules of the current directory
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ConversionError(f"cannot import {name!r}: {exc}") from None


def _attribute(namespace, dotted: str):
    for part in dotted.split("."):
        namespace = getattr(namespace, part)
    return namespace


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors by state-dict key, from safetensors or a torch.save file (never unpickling objects)."""
    if not path.is_file():
        raise ConversionError(f"no such file {str(path)!r}")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).splitlines()[0]
        raise ConversionError(
            f"{path.name}: holds more than tensors, which a state dict must not ({reason}); "
            "save model.state_dict(), or a whole module with --trust-pickle"
        ) from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"{path.name}: not a state dict (a mapping of names to tensors)")
    return dict(state)


def load_saved_module(path: Path, trust_pickle: bool) -> nn.Module:
    """A module saved whole with torch.save(model): unpickling it runs code, so only when trusted."""
    if not path.is_file():
        raise ConversionError(f"no such file {str(path)!r} (SOURCE is FILE.py:NAME, MODULE:NAME or a saved module)")
    if not trust_pickle:
        raise ConversionError(
            f"{path.name}: a saved module is a pickle, and loading it can run any code; pass --trust-pickle "
            "for a file you trust, or give the module's code (FILE.py:NAME) and a state dict"
        )
    model = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(model, nn.Module):
        raise ConversionError(f"{path.name} holds {type(model).__name__}, not a torch.nn.Module")
    return model


def apply_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConversionError(" ".join(str(exc).split())) from None


def import_sequential(
    model: nn.Module,
    folder: Path,
    input_shape: tuple[int, ...] | None = None,
    input_name: str = "input",
    description: str = "",
    replace: bool = False,
) -> float:
    """Write `model` as the model folder `folder` once the served model reproduces its outputs.
    Returns the largest difference seen."""
    model.eval()
    converted = convert_sequential(model, folder.name, input_shape, input_name, description)
    differences = []

    def reproduces(draft: Path) -> None:
        served = load_served(draft)
        inputs = probe_inputs(served)
        with torch.no_grad():
            original = model(*(torch.from_numpy(inputs[s.name]) for s in served.inputs))
        expected = {served.outputs[0].name: original.numpy()}
        differences.append(check_outputs("the served model", expected, served.infer(inputs)))

    publish_model_folder(converted, folder, reproduces, replace)
    return differences[0]
