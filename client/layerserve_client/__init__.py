"""Python client for layerserve's Open Inference Protocol (KServe V2) HTTP API."""

from .client import Client, InferResult
from .exceptions import (
    BadRequest,
    ConnectionError,
    HTTPError,
    InvalidInput,
    LayerserveError,
    ModelNotFound,
    NotReady,
    PayloadTooLarge,
    ServerError,
    Timeout,
    Unauthorized,
)

__all__ = [
    "BadRequest",
    "Client",
    "ConnectionError",
    "HTTPError",
    "InferResult",
    "InvalidInput",
    "LayerserveError",
    "ModelNotFound",
    "NotReady",
    "PayloadTooLarge",
    "ServerError",
    "Timeout",
    "Unauthorized",
]
