"""Configuration, read once from the environment with documented defaults."""

import math
import os
from collections.abc import Mapping
from typing import NamedTuple

from .stack import limits


class Setting(NamedTuple):
    variable: str
    default: object
    meaning: str  # one line for the settings table of the docs (generated from this table)


# Every setting: its environment variable, its default and what it means.
SETTINGS = {
    # app settings (create_app)
    "MODELS_DIR": Setting(
        "LAYERSERVE_MODELS", "models", "the models directory (relative to the working directory); `serve --models`"
    ),
    "MAX_BATCH_SIZE": Setting(
        "LAYERSERVE_MAX_BATCH_SIZE", 1024, "largest batch per request; a model's `max_batch_size` may only lower it"
    ),
    "MAX_BODY_BYTES": Setting(
        "LAYERSERVE_MAX_BODY_BYTES", 64 * 1024 * 1024, "largest request body; larger ones get 413"
    ),
    "MAX_MODEL_PARAMETERS": Setting(
        "LAYERSERVE_MAX_MODEL_PARAMETERS",
        limits.DEFAULT_MAX_PARAMETERS,
        "most tensor values one model may hold; a bigger model is refused at load and listed `UNAVAILABLE`",
    ),
    "MAX_DEFINITION_BYTES": Setting(
        "LAYERSERVE_MAX_DEFINITION_BYTES",
        limits.DEFAULT_MAX_DEFINITION_BYTES,
        "largest definition file; a bigger one is refused unread (weights belong in safetensors)",
    ),
    "MAX_REQUEST_VALUES": Setting(
        "LAYERSERVE_MAX_REQUEST_VALUES",
        limits.DEFAULT_MAX_REQUEST_VALUES,
        "most tensor values (inputs and every layer's output) one request may make; past it, 413 with the "
        "largest batch that fits; a model whose one sample needs more is refused at load",
    ),
    "MAX_ANSWER_VALUES": Setting(
        "LAYERSERVE_MAX_ANSWER_VALUES",
        limits.DEFAULT_MAX_ANSWER_VALUES,
        "most output values one answer may carry; past it, 413 with the largest batch that fits",
    ),
    "MAX_REQUEST_MACS": Setting(
        "LAYERSERVE_MAX_REQUEST_MACS",
        limits.DEFAULT_MAX_REQUEST_MACS,
        "most multiply-adds one request may ask for; past it, 413 with the largest batch that fits",
    ),
    "LOAD_TIMEOUT": Setting(
        "LAYERSERVE_LOAD_TIMEOUT",
        limits.DEFAULT_LOAD_TIMEOUT,
        "seconds a model folder may take to load; past it, the load is abandoned and reported",
    ),
    "REQUEST_LOG": Setting("LAYERSERVE_REQUEST_LOG", True, "one JSON line per request on stdout"),
    "METRICS": Setting("LAYERSERVE_METRICS", True, "metrics at `GET /metrics`; off, nothing is observed and it is 404"),
    # set by gunicorn.conf.py for its workers: where they write their metrics ("": this process only)
    "METRICS_DIR": Setting("PROMETHEUS_MULTIPROC_DIR", "", "set by the server for its workers"),
    "HEALTH_SAMPLE_EVERY": Setting(
        "LAYERSERVE_HEALTH_SAMPLE_EVERY",
        10,
        "each worker counts activation health on one forward pass in this many; 0: off",
    ),
    "TRACE_MAX_VALUES": Setting(
        "LAYERSERVE_TRACE_MAX_VALUES", 4096, "most values per tensor in a trace, and per `per_neuron` list"
    ),
    "INFER_TIMEOUT": Setting(
        "LAYERSERVE_INFER_TIMEOUT",
        30.0,
        "seconds an infer, `:predict` or trace request may take from its arrival; past it, 504",
    ),
    "ADMIN_TOKEN": Setting(
        "LAYERSERVE_ADMIN_TOKEN", "", "bearer token of the repository endpoints; empty: they are disabled (403)"
    ),
    "INFER_TOKEN": Setting(
        "LAYERSERVE_INFER_TOKEN", "", "bearer token that infer, trace and `:predict` require; empty: inference is open"
    ),
    "REPOSITORY_POLL_S": Setting(
        "LAYERSERVE_REPOSITORY_POLL_S",
        0.0,
        "poll mode: seconds between scans of the models folder; a changed model is reloaded in every worker; 0: off",
    ),
    # process settings (gunicorn.conf.py)
    "HOST": Setting("LAYERSERVE_HOST", "127.0.0.1", "bind address; `serve --host`"),
    "PORT": Setting("LAYERSERVE_PORT", 8000, "bind port (0: any free port); `serve --port`"),
    "GRPC_PORT": Setting(
        "LAYERSERVE_GRPC_PORT",
        0,
        "port of the Open Inference Protocol over gRPC, served by every worker on the same host; 0: no gRPC",
    ),
    "WORKERS": Setting("LAYERSERVE_WORKERS", 2, "gunicorn worker processes; `serve --workers`"),
    "THREADS": Setting(
        "LAYERSERVE_THREADS",
        8,
        "request threads per worker (a V2 infer request waiting for a dynamic batch holds none)",
    ),
    "ACTIVE_REQUESTS": Setting(
        "LAYERSERVE_ACTIVE_REQUESTS", 1, "requests of one worker that run at once; the others wait in arrival order"
    ),
    "TIMEOUT": Setting(
        "LAYERSERVE_TIMEOUT",
        30,
        "seconds before a hung worker is restarted; also the graceful-shutdown and reload-confirmation timeout",
    ),
    "HEADER_TIMEOUT": Setting(
        "LAYERSERVE_HEADER_TIMEOUT",
        10.0,
        "seconds from a request's first byte to its last header; past it, 408 and the connection closes",
    ),
    "BODY_TIMEOUT": Setting(
        "LAYERSERVE_BODY_TIMEOUT",
        30.0,
        "seconds from a request's last header to its body's last byte (and for a client to take its answer); "
        "past it, 408 and the connection closes",
    ),
    "KEEPALIVE": Setting(
        "LAYERSERVE_KEEPALIVE", 5.0, "seconds an idle keep-alive connection stays open between requests"
    ),
    "MAX_HEADER_BYTES": Setting(
        "LAYERSERVE_MAX_HEADER_BYTES", 64 * 1024, "largest request line and headers; larger ones get 431"
    ),
    "MAX_CONNECTIONS": Setting(
        "LAYERSERVE_MAX_CONNECTIONS",
        1000,
        "open connections per worker; past it the longest idle one is closed, or the worker accepts no more "
        "until one closes (its siblings take them)",
    ),
    "TORCH_THREADS": Setting("LAYERSERVE_TORCH_THREADS", 1, "torch threads per forward pass"),
    "LOG_LEVEL": Setting("LAYERSERVE_LOG_LEVEL", "info", "gunicorn's log level and the Python logging level"),
}


def defaults() -> dict:
    return {key: setting.default for key, setting in SETTINGS.items()}


def from_environment(environ: Mapping[str, str] = os.environ) -> dict:
    """The settings the environment overrides, converted to their default's type."""
    values = {}
    for key, (variable, default, _) in SETTINGS.items():
        if variable in environ:
            values[key] = _convert(variable, environ[variable], type(default))
    return values


# 0 means "any free port", "no gRPC", "never sample" and "do not poll"; everywhere else it is a mistake.
_ZERO_ALLOWED = (
    "LAYERSERVE_PORT",
    "LAYERSERVE_GRPC_PORT",
    "LAYERSERVE_HEALTH_SAMPLE_EVERY",
    "LAYERSERVE_REPOSITORY_POLL_S",
)
_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _convert(variable: str, raw: str, kind: type):
    if kind is str:
        return raw
    if kind is bool:
        if raw.strip().lower() not in _BOOLEANS:
            raise ValueError(f"{variable}={raw!r} is not a boolean (1/0, true/false, yes/no, on/off)")
        return _BOOLEANS[raw.strip().lower()]
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} is not a valid {kind.__name__}") from None
    if not math.isfinite(value):
        raise ValueError(f"{variable}={raw!r} must be a finite number")
    if value < 0 or (value == 0 and variable not in _ZERO_ALLOWED):
        raise ValueError(f"{variable}={raw!r} must be positive")
    return value


def settings(environ: Mapping[str, str] = os.environ) -> dict:
    return {**defaults(), **from_environment(environ)}


def model_limits(values: Mapping) -> limits.ModelLimits:
    """The bounds models are loaded and served under, from the settings."""
    return limits.ModelLimits(
        max_parameters=values["MAX_MODEL_PARAMETERS"],
        max_definition_bytes=values["MAX_DEFINITION_BYTES"],
        max_request_values=values["MAX_REQUEST_VALUES"],
        max_answer_values=values["MAX_ANSWER_VALUES"],
        max_request_macs=values["MAX_REQUEST_MACS"],
    )
