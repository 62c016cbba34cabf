"""Request tensors in JSON ↔ numpy arrays; response tensors → JSON. Datatypes come from dtypes."""

import json
import math
import sys
from itertools import chain

import numpy as np
import torch

from .dtypes import BY_TORCH, PROTOCOL_DATATYPES
from .errors import BadRequest
from .served import TensorSpec


def _reject_constant(name: str):
    raise BadRequest(f"body contains {name}; non-finite numbers are not accepted")


def parse_json(body: bytes):
    """Strict JSON: UTF-8, no NaN/Infinity literals, bounded nesting."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not UTF-8 text: invalid byte at position {exc.start}") from None
    if not text.strip():
        raise BadRequest("body is empty; expected a JSON object")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise BadRequest("body is not valid JSON: nested too deeply") from None
    except ValueError:
        # Python refuses to read integers longer than its limit (a DoS guard), with a plain ValueError.
        limit = sys.get_int_max_str_digits()
        raise BadRequest(f"body is not valid JSON: a number has more than {limit} digits") from None


def numbers_to_array(data, where: str) -> np.ndarray:
    """A nested or flat list of JSON numbers as a float64 array; anything else is refused."""
    if not isinstance(data, list):
        raise BadRequest(f"{where}: data must be a list of numbers, got {_json_type(data)}")
    try:
        array = np.asarray(data)
    except ValueError:
        raise BadRequest(f"{where}: nested lists are ragged (rows of different lengths)") from None
    if array.dtype.kind not in "iuf" or _has_booleans(data, array.ndim):
        raise BadRequest(f"{where}: values must all be numbers ({_odd_value(data, array.ndim)} found)")
    return array.astype(np.float64, copy=False)


def _leaves(data, depth: int):
    for _ in range(depth - 1):
        data = chain.from_iterable(data)
    return data


def _has_booleans(data, depth: int) -> bool:
    # numpy turns True into 1: look at the JSON values themselves.
    return any(v is True or v is False for v in _leaves(data, depth))


def _odd_value(data, depth: int) -> str:
    if depth == 0:
        return "nothing"
    for value in _leaves(data, depth):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return _json_type(value)
    return "a number too large"


def _json_type(value) -> str:
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        dict: "an object",
        list: "a list",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def decode_input(tensor: dict, spec: TensorSpec) -> np.ndarray:
    """One request input ({name, shape, datatype, data}) as an array of the model's dtype."""
    where = f"input {spec.name!r}"
    datatype = tensor["datatype"]
    if datatype not in PROTOCOL_DATATYPES:
        raise BadRequest(f"{where}: unknown datatype {datatype!r}; protocol datatypes: {', '.join(PROTOCOL_DATATYPES)}")
    if datatype != spec.dtype.datatype:
        raise BadRequest(f"{where}: datatype {datatype} does not match the model's {spec.dtype.datatype}")
    shape = list(tensor["shape"])
    spec.check_shape(shape)
    array = numbers_to_array(tensor["data"], where)
    if array.ndim > 1 and list(array.shape) != shape:
        raise BadRequest(f"{where}: nested data has shape {list(array.shape)}, but shape says {shape}")
    if array.size != math.prod(shape):
        raise BadRequest(f"{where}: shape {shape} needs {math.prod(shape)} values, data has {array.size}")
    return to_model_dtype(array.reshape(shape), spec, where)


def to_model_dtype(array: np.ndarray, spec: TensorSpec, where: str) -> np.ndarray:
    with np.errstate(over="ignore"):  # overflow becomes inf, refused below rather than warned about
        converted = array.astype(spec.dtype.numpy)
    if not np.isfinite(converted).all():
        raise BadRequest(f"{where}: values overflow {spec.dtype.datatype} (infinite after conversion)")
    return converted


def encode_output(name: str, tensor: torch.Tensor) -> dict:
    return {
        "name": name,
        "datatype": BY_TORCH[tensor.dtype].datatype,
        "shape": list(tensor.shape),
        "data": tensor.reshape(-1).tolist(),
    }
