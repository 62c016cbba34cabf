"""HTTP client for layerserve's Open Inference Protocol (KServe V2) endpoints."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any, Self
from urllib.parse import quote

import requests

from . import exceptions
from .retry import RETRY_STATUSES, Backoff

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 10.0
DEFAULT_DATATYPE = "FP32"
# Inference is idempotent, so a request whose connection broke (the server died, its answer
# was cut off) or that got 503 (not ready yet) is sent again this many times, after a backoff;
# a timeout is not retried (it may still be running).
DEFAULT_INFERENCE_RETRIES = 1

DATATYPE_BY_DTYPE = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
}
DTYPE_BY_DATATYPE = {datatype: dtype for dtype, datatype in DATATYPE_BY_DTYPE.items()}


class Client:
    """A connection to one layerserve server; a context manager that closes it."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | None = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
        inference_retries: int = DEFAULT_INFERENCE_RETRIES,
        backoff: float = 0.1,
        backoff_max: float = 2.0,
        token: str | None = None,
        admin_token: str | None = None,
    ):
        """`token` is sent as a bearer token with every request (the server's
        LAYERSERVE_INFER_TOKEN); `admin_token` with the repository calls (LAYERSERVE_ADMIN_TOKEN)."""
        self.base_url = base_url.rstrip("/")
        if inference_retries < 0:
            raise ValueError(f"inference_retries must not be negative, got {inference_retries}")
        self.inference_retries = inference_retries
        self.backoff = Backoff(backoff, backoff_max)
        self.timeout = timeout
        self.headers = dict(headers or {})
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        self._admin_headers = {"Authorization": f"Bearer {admin_token}"} if admin_token is not None else {}
        self.session = session if session is not None else requests.Session()
        self._owns_session = session is None
        self._metadata_cache: dict[tuple[str, str | None], dict] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self.base_url}>"

    def close(self) -> None:
        """Close the session if this client created it; one passed in stays open."""
        if self._owns_session:
            self.session.close()

    # Server

    def server_metadata(self, **kwargs: Any) -> dict:
        return self._request("GET", "/v2", **kwargs)

    def is_live(self, **kwargs: Any) -> bool:
        return self._probe("/v2/health/live", "live", **kwargs)

    def is_ready(self, **kwargs: Any) -> bool:
        return self._probe("/v2/health/ready", "ready", **kwargs)

    # Models

    def models(self, **kwargs: Any) -> list[dict]:
        return self._request("GET", "/v2/models", **kwargs)["models"]

    def model_metadata(self, name: str, version: str | None = None, **kwargs: Any) -> dict:
        metadata = self._request("GET", _model_path(name, version), **kwargs)
        self._metadata_cache[(name, version)] = metadata
        return metadata

    def is_model_ready(self, name: str, version: str | None = None, **kwargs: Any) -> bool:
        # 503: warming up; 400: failed to load or unloaded (the reason is in models()).
        return self._probe(_model_path(name, version) + "/ready", "ready", unavailable=exceptions.BadRequest, **kwargs)

    def layers(self, name: str, version: str | None = None, **kwargs: Any) -> dict:
        return self._request("GET", _model_path(name, version) + "/layers", **kwargs)

    def layer(
        self,
        name: str,
        layer: str | int,
        version: str | None = None,
        values: bool = False,
        **kwargs: Any,
    ) -> dict:
        path = f"{_model_path(name, version)}/layers/{quote(str(layer), safe='')}"
        if values:
            kwargs["params"] = {**kwargs.get("params", {}), "values": "true"}
        return self._request("GET", path, **kwargs)

    # Model repository (needs admin_token)

    def repository_index(self, ready: bool | None = None, **kwargs: Any) -> list[dict]:
        """Every model folder on the server: name, version, state and reason."""
        body = {} if ready is None else {"ready": ready}
        return self._request("POST", "/v2/repository/index", json=body, **self._as_admin(kwargs))

    def load_model(self, name: str, **kwargs: Any) -> dict:
        """Re-read the model's folder on the server and serve it in every worker."""
        return self._request("POST", f"/v2/repository/models/{quote(name, safe='')}/load", **self._as_admin(kwargs))

    def unload_model(self, name: str, **kwargs: Any) -> dict:
        return self._request("POST", f"/v2/repository/models/{quote(name, safe='')}/unload", **self._as_admin(kwargs))

    def _as_admin(self, kwargs: dict) -> dict:
        return {**kwargs, "headers": {**self._admin_headers, **(kwargs.get("headers") or {})}}

    # Inference

    def infer(
        self,
        name: str,
        inputs: Any,
        version: str | None = None,
        outputs: list[str] | None = None,
        request_id: str | None = None,
        as_numpy: bool | None = None,
        **kwargs: Any,
    ) -> InferResult:
        """Run the model on {input name: array or nested list}, or on one such value."""
        want_numpy = _resolve_as_numpy(as_numpy)
        # before the metadata a nested list needs is fetched: that request is retried alike
        kwargs.setdefault("retries", self.inference_retries)
        payload = {"inputs": self._encode_inputs(name, version, inputs, kwargs)}
        if outputs is not None:
            payload["outputs"] = [{"name": output} for output in outputs]
        if request_id is not None:
            payload["id"] = request_id
        body = self._request("POST", _model_path(name, version) + "/infer", json=payload, **kwargs)
        return InferResult(body, as_numpy=want_numpy)

    def trace(self, name: str, inputs: Any, version: str | None = None, **kwargs: Any) -> dict:
        """Run the inputs through the declared layers one at a time; returns every layer's output,
        statistics and health, as the server's trace endpoint gives them."""
        kwargs.setdefault("retries", self.inference_retries)  # the metadata fetch included, as in infer
        payload = {"inputs": self._encode_inputs(name, version, inputs, kwargs)}
        return self._request("POST", _model_path(name, version) + "/trace", json=payload, **kwargs)

    def predict(self, name: str, instances: Any, **kwargs: Any) -> list:
        """Run the model through the V1 protocol; returns the "predictions" list."""
        path = f"/v1/models/{quote(name, safe='')}:predict"
        payload = {"instances": _plain_instances(instances)}
        kwargs.setdefault("retries", self.inference_retries)
        return self._request("POST", path, json=payload, **kwargs)["predictions"]

    # Internals

    def _request(self, method: str, path: str, retries: int = 0, **kwargs: Any) -> Any:
        """`retries`: times to send the request again on a broken connection or a 503 (idempotent requests only)."""
        kwargs.setdefault("timeout", self.timeout)
        kwargs["headers"] = {**self.headers, **(kwargs.get("headers") or {})}
        url = self.base_url + path
        response = self._send_with_retries(method, url, retries, kwargs)
        if response.status_code >= 400:
            raise exceptions.error_from_response(response)
        return _decode_json(response)

    def _send_with_retries(self, method: str, url: str, retries: int, kwargs: dict) -> requests.Response:
        """Send again, after a backoff, on a connection error or a 503, at most `retries` times."""
        attempt = 0
        while True:
            try:
                response = self._send(method, url, **kwargs)
            except exceptions.ConnectionError as exc:
                if attempt == retries and attempt == 0:
                    raise
                if attempt == retries:
                    raise exceptions.ConnectionError(f"{exc.message} ({attempt + 1} attempts)") from exc.__cause__
                response, why = None, exc.message
            else:
                if response.status_code not in RETRY_STATUSES or attempt == retries:
                    return response
                why = f"HTTP {response.status_code}"
            wait = self.backoff.delay(attempt, response)
            attempt += 1
            log.info("%s %s: %s; retry %d of %d in %.2f s", method, url, why, attempt, retries, wait)
            time.sleep(wait)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, url, **kwargs)
        # Timeout first: requests.ConnectTimeout is a Timeout and a ConnectionError. A timeout is
        # never retried: the server may still be working on the request.
        except requests.Timeout as exc:
            raise exceptions.Timeout(f"{method} {url} timed out: {exc}") from exc
        except requests.ConnectionError as exc:
            raise exceptions.ConnectionError(f"cannot reach {url}: {exc}") from exc
        except requests.exceptions.ChunkedEncodingError as exc:  # the answer began, then the connection broke
            raise exceptions.ConnectionError(f"the connection to {url} broke during the answer: {exc}") from exc
        except requests.RequestException as exc:
            raise exceptions.LayerserveError(f"{method} {url} failed: {exc}") from exc

    def _probe(self, path: str, key: str, unavailable: type = exceptions.NotReady, **kwargs: Any) -> bool:
        try:
            body = self._request("GET", path, **kwargs)
        except (exceptions.NotReady, unavailable):
            return False
        return bool(body.get(key, True)) if isinstance(body, dict) else True

    def _cached_metadata(self, name: str, version: str | None, kwargs: dict) -> dict:
        cached = self._metadata_cache.get((name, version))
        if cached is None:
            cached = self.model_metadata(name, version, **kwargs)
        return cached

    def _encode_inputs(self, name: str, version: str | None, inputs: Any, kwargs: dict) -> list:
        # Values are checked before fetching metadata: bad input never hits the wire.
        if isinstance(inputs, Mapping):
            tensors = {input_name: _to_tensor(value) for input_name, value in inputs.items()}
        else:
            tensors = {None: _to_tensor(inputs)}
        if None in tensors or any(t["datatype"] is None for t in tensors.values()):
            metadata = self._cached_metadata(name, version, kwargs)
            tensors = _complete_from_metadata(name, tensors, metadata.get("inputs", []))
        return [{"name": input_name, **tensor} for input_name, tensor in tensors.items()]


class InferResult:
    """A decoded inference response; `result[name]` is one output tensor."""

    def __init__(self, raw: dict, as_numpy: bool = False):
        self.raw = raw
        self.model_name = raw.get("model_name")
        self.model_version = raw.get("model_version")
        self.id = raw.get("id")
        self.outputs = {output["name"]: _decode_tensor(output, as_numpy) for output in raw.get("outputs", [])}

    def __getitem__(self, name: str) -> Any:
        return self.outputs[name]

    def __contains__(self, name: object) -> bool:
        return name in self.outputs

    def __repr__(self) -> str:
        return f"<InferResult {self.model_name} outputs={list(self.outputs)}>"

    def output(self, name: str | None = None) -> Any:
        """The named output, or the first (usually only) one."""
        if name is not None:
            return self.outputs[name]
        if not self.outputs:
            raise exceptions.LayerserveError("the response has no outputs")
        return next(iter(self.outputs.values()))


def _model_path(name: str, version: str | None) -> str:
    path = f"/v2/models/{quote(name, safe='')}"
    if version is not None:
        path += f"/versions/{quote(str(version), safe='')}"
    return path


def _decode_json(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise exceptions.LayerserveError("the server sent a body that is not JSON", response) from exc


def _complete_from_metadata(model: str, tensors: dict, metadata_inputs: list[dict]) -> dict:
    """Fill in the input name of a lone value and the datatype of nested-list values."""
    if None in tensors:
        tensors = {_single_input_name(model, metadata_inputs): tensors[None]}
    declared = {spec.get("name"): spec.get("datatype") for spec in metadata_inputs}
    for input_name, tensor in tensors.items():
        if tensor["datatype"] is None:
            tensor["datatype"] = declared.get(input_name) or DEFAULT_DATATYPE
    return tensors


def _single_input_name(model: str, metadata_inputs: list[dict]) -> str:
    if len(metadata_inputs) != 1:
        raise exceptions.InvalidInput(
            f"model {model!r} has {len(metadata_inputs)} inputs; pass a dict of input name to value"
        )
    return metadata_inputs[0]["name"]


def _numpy() -> Any:
    """The numpy module, or None: the client works with only requests installed."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _resolve_as_numpy(as_numpy: bool | None) -> bool:
    available = _numpy() is not None
    if as_numpy and not available:
        raise ImportError("as_numpy=True needs numpy, which is not installed")
    return available if as_numpy is None else as_numpy


def _to_tensor(value: Any) -> dict:
    """{"shape", "datatype", "data"} of one input; datatype None: ask the metadata."""
    if isinstance(value, (list, tuple)):
        shape = nested_shape(value)
        return {"shape": shape, "datatype": None, "data": flatten_nested(value, shape)}
    numpy = _numpy()
    if numpy is None:
        raise exceptions.InvalidInput(f"expected a nested list (numpy is not installed), got {type(value).__name__}")
    array = numpy.asarray(value)
    return {
        "shape": list(array.shape),
        "datatype": datatype_for_dtype(array.dtype),
        "data": array.ravel(order="C").tolist(),
    }


def datatype_for_dtype(dtype: Any) -> str:
    """The V2 datatype name ("FP32", "INT64", ...) for a numpy dtype."""
    try:
        return DATATYPE_BY_DTYPE[str(dtype)]
    except KeyError:
        raise exceptions.InvalidInput(f"unsupported array dtype {dtype}") from None


def nested_shape(value: Any) -> list[int]:
    """The shape implied by the first element at each nesting level."""
    shape = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def flatten_nested(value: Any, shape: list[int]) -> list:
    """Row-major flat values; InvalidInput unless `value` is rectangular as `shape`."""
    flat: list = []
    _collect_leaves(value, shape, (), flat)
    return flat


def _collect_leaves(value: Any, shape: list[int], index: tuple, flat: list) -> None:
    depth = len(index)
    if depth == len(shape):
        if isinstance(value, (list, tuple)):
            raise _ragged(index, f"a nested list deeper than the shape {shape}")
        flat.append(value.item() if hasattr(value, "item") else value)
        return
    if not isinstance(value, (list, tuple)):
        raise _ragged(index, f"a scalar where a list of {shape[depth]} was expected")
    if len(value) != shape[depth]:
        raise _ragged(index, f"{len(value)} items where {shape[depth]} were expected")
    for position, item in enumerate(value):
        _collect_leaves(item, shape, (*index, position), flat)


def _ragged(index: tuple, problem: str) -> exceptions.InvalidInput:
    where = "".join(f"[{i}]" for i in index) or "the top level"
    return exceptions.InvalidInput(f"ragged input: {problem} at {where}")


def _decode_tensor(output: dict, as_numpy: bool) -> Any:
    shape = list(output.get("shape", []))
    data = _flat_values(output.get("data", []))
    if len(data) != math.prod(shape):
        raise exceptions.LayerserveError(f"output {output.get('name')!r} has {len(data)} values for shape {shape}")
    if as_numpy:
        dtype = DTYPE_BY_DATATYPE.get(output.get("datatype", ""))
        return _numpy().asarray(data, dtype=dtype).reshape(shape)
    return unflatten(data, shape)


def _flat_values(data: list) -> list:
    # The V2 protocol allows servers to send nested data as well as flat.
    if not any(isinstance(item, list) for item in data):
        return data
    return [leaf for item in data for leaf in _flat_values(item if isinstance(item, list) else [item])]


def unflatten(flat: list, shape: list[int]) -> Any:
    """Nested lists of `shape` from row-major `flat` values; a scalar for shape []."""
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = math.prod(shape[1:])
    return [unflatten(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _plain_instances(instances: Any) -> Any:
    if hasattr(instances, "tolist"):
        return instances.tolist()
    return [item.tolist() if hasattr(item, "tolist") else item for item in instances]
