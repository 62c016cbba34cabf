"""Read a model's inputs from a file for `layerserve predict`: JSON, .npy or .npz."""

import json
from pathlib import Path

import numpy as np


def read_inputs(path: Path):
    """One batch for a single-input model (nested lists), or {input name: batch} for any model.

    JSON holds either form; a .npy file holds one array; a .npz file holds one array per input name.
    Arrays are read without pickle and sent as nested lists, so the server's datatype applies.
    """
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False).tolist()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            return {name: arrays[name].tolist() for name in arrays.files}
    if suffix == ".json":
        return _json_inputs(path)
    raise ValueError(f"{path.name}: expected a .json, .npy or .npz file")


def _json_inputs(path: Path):
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name}: not valid JSON ({exc})") from None
    if isinstance(value, list) or (isinstance(value, dict) and all(isinstance(v, list) for v in value.values())):
        return value
    raise ValueError(f"{path.name}: expected a nested list, or an object of input name to nested list")
