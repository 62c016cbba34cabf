"""Request tensors (JSON or binary) ↔ numpy arrays, and response bodies. Datatypes come from dtypes.

JSON goes through orjson: it parses and writes several times faster than the json module,
refuses NaN/Infinity and bounds nesting by itself, and writes numpy arrays directly, float32
values in their shortest form (1.2, not 1.2000000476837158).
"""

import json
import math
import sys
from itertools import chain

import numpy as np
import orjson

from ..errors import BadRequest, UnsupportedMediaType, clip
from .dtypes import BY_NUMPY, PROTOCOL_DATATYPES
from .spec import TensorSpec

BINARY_HEADER = "Inference-Header-Content-Length"
BINARY_CONTENT_TYPE = "application/octet-stream"
JSON_CONTENT_TYPE = "application/json"

_NUMBER_TYPES = {int, float}
_INDEX_TYPES = {int}  # integer datatypes hold indices: 2.0 is refused, not truncated


# --- bodies ----------------------------------------------------------------------------------


def parse_json(body: bytes):
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        _explain_invalid_json(body)
        raise BadRequest(f"body is not valid JSON: {exc}") from None


def _explain_invalid_json(body: bytes) -> None:
    """Raise the clearest message the json module gives for a body orjson refused."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not UTF-8 text: invalid byte at position {exc.start}") from None
    if not text.strip():
        raise BadRequest("body is empty; expected a JSON object")
    try:
        json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise BadRequest("body is not valid JSON: nested too deeply") from None
    except ValueError:
        # Python refuses to read integers longer than its limit (a DoS guard), with a plain ValueError.
        limit = sys.get_int_max_str_digits()
        raise BadRequest(f"body is not valid JSON: a number has more than {limit} digits") from None


def _reject_constant(name: str):
    raise BadRequest(f"body contains {name}; non-finite numbers are not accepted")


def read_body(body: bytes, content_type: str, binary_header: str | None = None) -> tuple[dict, memoryview | None]:
    """A request body as its JSON object and, with the binary tensor extension, the raw part."""
    mimetype = content_type.split(";", 1)[0].strip().lower()
    if binary_header is not None:
        if mimetype not in ("", BINARY_CONTENT_TYPE, JSON_CONTENT_TYPE):
            raise UnsupportedMediaType(
                f"Content-Type must be {BINARY_CONTENT_TYPE} with {BINARY_HEADER}, got {clip(mimetype)}"
            )
        header, binary = split_binary_body(body, binary_header)
    else:
        if mimetype and mimetype != JSON_CONTENT_TYPE and not mimetype.endswith("+json"):
            raise UnsupportedMediaType(f"Content-Type must be {JSON_CONTENT_TYPE}, got {clip(mimetype)}")
        header, binary = body, None
    document = parse_json(header)
    if not isinstance(document, dict):
        raise BadRequest(f"body must be a JSON object, got a JSON {type(document).__name__}")
    return document, binary


def split_binary_body(body: bytes, header_length: str) -> tuple[bytes, memoryview]:
    """The binary tensor extension: a JSON header of the given length, then raw tensor bytes."""
    try:
        length = int(header_length)
    except ValueError:
        raise BadRequest(f"{BINARY_HEADER} must be an integer, got {clip(header_length)}") from None
    if not 0 < length <= len(body):
        raise BadRequest(f"{BINARY_HEADER} is {length}, but the body has {len(body)} bytes")
    return body[:length], memoryview(body)[length:]


def encode_json(document) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


# --- input tensors ---------------------------------------------------------------------------


def decode_input(tensor: dict, spec: TensorSpec, blob: memoryview | None = None) -> np.ndarray:
    """One request input ({name, shape, datatype, data}, or its raw bytes) in the input's dtype."""
    where = f"input {spec.name!r}"
    datatype = tensor["datatype"]
    if datatype not in PROTOCOL_DATATYPES:
        raise BadRequest(
            f"{where}: unknown datatype {clip(datatype)}; protocol datatypes: {', '.join(PROTOCOL_DATATYPES)}"
        )
    if datatype != spec.dtype.datatype:
        raise BadRequest(f"{where}: datatype {datatype} does not match the model's {spec.dtype.datatype}")
    shape = list(tensor["shape"])
    spec.check_shape(shape)
    if blob is not None:
        return _from_bytes(blob, shape, spec, where)
    if "data" not in tensor:
        raise BadRequest(f"{where}: has neither data nor parameters.binary_data_size")
    array = numbers_to_array(tensor["data"], len(shape), spec, where)
    if array.ndim > 1 and list(array.shape) != shape:
        raise BadRequest(f"{where}: nested data has shape {clip(list(array.shape))}, but shape says {clip(shape)}")
    if array.size != math.prod(shape):
        raise BadRequest(f"{where}: shape {clip(shape)} needs {math.prod(shape)} values, data has {array.size}")
    return array.reshape(shape)


def numbers_to_array(data, rank: int, spec: TensorSpec, where: str) -> np.ndarray:
    """JSON numbers, flat or nested `rank` deep, as an array of the input's dtype; nothing else (integers only for indices)."""
    if not isinstance(data, list):
        raise BadRequest(f"{where}: data must be a list of numbers, got {_json_type(data)}")
    depth = rank if data and isinstance(data[0], list) else 1
    _check_numbers(data, depth, where, _INDEX_TYPES if spec.dtype.indices else _NUMBER_TYPES)
    try:
        with np.errstate(over="ignore"):  # overflow becomes inf, refused below
            array = np.array(data, dtype=spec.dtype.numpy)
    except ValueError:
        raise BadRequest(f"{where}: nested lists are ragged (rows of different lengths)") from None
    except OverflowError:
        raise BadRequest(f"{where}: a value is too large for {spec.dtype.datatype}") from None
    if not np.isfinite(array).all():  # the JSON parser refuses NaN and Infinity: only overflow is left
        raise BadRequest(f"{where}: values overflow {spec.dtype.datatype}")
    return array


def _check_numbers(data: list, depth: int, where: str, allowed: set[type]) -> None:
    # numpy would quietly turn True into 1.0, "2" into 2.0 and 1.5 into index 1: look at the JSON values themselves.
    try:
        odd = set(map(type, _leaves(data, depth))) - allowed
    except TypeError:  # a number where a nested list belongs
        raise BadRequest(f"{where}: nested lists are ragged (numbers and lists at the same depth)") from None
    if odd:
        names = sorted("a float" if t is float else _TYPE_NAMES.get(t, t.__name__) for t in odd)
        kind = "integers" if allowed is _INDEX_TYPES else "numbers"
        raise BadRequest(f"{where}: values must all be {kind} ({', '.join(names)} found)")


def _leaves(data: list, depth: int):
    for _ in range(depth - 1):
        data = chain.from_iterable(data)
    return data


def _from_bytes(blob: memoryview, shape: list, spec: TensorSpec, where: str) -> np.ndarray:
    little_endian = np.dtype(spec.dtype.numpy).newbyteorder("<")
    expected = math.prod(shape) * little_endian.itemsize
    if len(blob) != expected:
        raise BadRequest(
            f"{where}: shape {clip(shape)} of {spec.dtype.datatype} needs {expected} bytes, got {len(blob)}"
        )
    # A copy: the request's buffer is read-only, and torch wants to own writable memory.
    array = np.frombuffer(blob, dtype=little_endian).astype(spec.dtype.numpy)
    if not np.isfinite(array).all():
        raise BadRequest(f"{where}: NaN or infinite values are not accepted")
    return array.reshape(shape)


_TYPE_NAMES = {bool: "a boolean", str: "a string", dict: "an object", list: "a list", type(None): "null"}


def _json_type(value) -> str:
    return _TYPE_NAMES.get(type(value), "a number" if type(value) in _NUMBER_TYPES else type(value).__name__)


# --- output tensors --------------------------------------------------------------------------


def output_tensor(name: str, array: np.ndarray) -> dict:
    """An output as the protocol's JSON tensor; `data` stays a numpy array for encode_json."""
    return {"name": name, "datatype": BY_NUMPY[array.dtype].datatype, "shape": list(array.shape), "data": array.ravel()}


def binary_response(document: dict, binary_outputs: set[str]) -> tuple[bytes, int]:
    """Move the named outputs' data behind the JSON header (binary tensor extension).

    Returns the body and the length of its JSON header.
    """
    blobs = []
    for output in document["outputs"]:
        if output["name"] in binary_outputs:
            data = output.pop("data")
            blob = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()
            output["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
    header = encode_json(document)
    return b"".join([header, *blobs]), len(header)
