"""Configuration, read once from the environment with documented defaults."""

import math
import os
from collections.abc import Mapping

from .stack.limits import DEFAULT_MAX_PARAMETERS

# Every setting, its environment variable and its default: the README's configuration table.
SETTINGS = {
    # app settings (create_app)
    "MODELS_DIR": ("LAYERSERVE_MODELS", "models"),
    "MAX_BATCH_SIZE": ("LAYERSERVE_MAX_BATCH_SIZE", 1024),
    "MAX_BODY_BYTES": ("LAYERSERVE_MAX_BODY_BYTES", 64 * 1024 * 1024),
    "MAX_MODEL_PARAMETERS": ("LAYERSERVE_MAX_MODEL_PARAMETERS", DEFAULT_MAX_PARAMETERS),
    "REQUEST_LOG": ("LAYERSERVE_REQUEST_LOG", True),
    "METRICS": ("LAYERSERVE_METRICS", True),
    # set by gunicorn.conf.py for its workers: where they write their metrics ("": this process only)
    "METRICS_DIR": ("PROMETHEUS_MULTIPROC_DIR", ""),
    "HEALTH_SAMPLE_EVERY": ("LAYERSERVE_HEALTH_SAMPLE_EVERY", 10),
    "TRACE_MAX_VALUES": ("LAYERSERVE_TRACE_MAX_VALUES", 4096),
    "INFER_TIMEOUT": ("LAYERSERVE_INFER_TIMEOUT", 30.0),
    "ADMIN_TOKEN": ("LAYERSERVE_ADMIN_TOKEN", ""),  # empty: the repository endpoints are disabled
    "INFER_TOKEN": ("LAYERSERVE_INFER_TOKEN", ""),  # empty: inference needs no token
    "REPOSITORY_POLL_S": ("LAYERSERVE_REPOSITORY_POLL_S", 0.0),  # 0: off; see server/repository_poll.py
    # process settings (gunicorn.conf.py)
    "HOST": ("LAYERSERVE_HOST", "127.0.0.1"),
    "PORT": ("LAYERSERVE_PORT", 8000),
    "WORKERS": ("LAYERSERVE_WORKERS", 2),
    "THREADS": ("LAYERSERVE_THREADS", 8),
    "ACTIVE_REQUESTS": ("LAYERSERVE_ACTIVE_REQUESTS", 1),
    "TIMEOUT": ("LAYERSERVE_TIMEOUT", 30),
    "TORCH_THREADS": ("LAYERSERVE_TORCH_THREADS", 1),
    "LOG_LEVEL": ("LAYERSERVE_LOG_LEVEL", "info"),
}


def defaults() -> dict:
    return {key: default for key, (_, default) in SETTINGS.items()}


def from_environment(environ: Mapping[str, str] = os.environ) -> dict:
    """The settings the environment overrides, converted to their default's type."""
    values = {}
    for key, (variable, default) in SETTINGS.items():
        if variable in environ:
            values[key] = _convert(variable, environ[variable], type(default))
    return values


# 0 means "any free port", "never sample" and "do not poll"; everywhere else it is a mistake.
_ZERO_ALLOWED = ("LAYERSERVE_PORT", "LAYERSERVE_HEALTH_SAMPLE_EVERY", "LAYERSERVE_REPOSITORY_POLL_S")
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
