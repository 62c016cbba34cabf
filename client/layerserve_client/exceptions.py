"""Exceptions raised by the layerserve client, all rooted at LayerserveError."""

from __future__ import annotations

import requests

# Long HTML error pages (from a proxy, say) would drown the useful part of str(exc).
_MAX_TEXT_IN_MESSAGE = 500


class LayerserveError(Exception):
    """Root of every client error; `.response` is None when no HTTP reply came."""

    def __init__(self, message: str = "", response: requests.Response | None = None):
        super().__init__(message)
        self.message = message
        self.response = response

    @property
    def status_code(self) -> int | None:
        return None if self.response is None else self.response.status_code

    def __str__(self) -> str:
        if self.status_code is None:
            return self.message
        return f"HTTP {self.status_code}: {self.message}"


class ConnectionError(LayerserveError):
    """The server could not be reached."""


class Timeout(LayerserveError):
    """The server did not answer within the timeout."""


class InvalidInput(LayerserveError, ValueError):
    """The caller's input was rejected before any request was sent."""


class HTTPError(LayerserveError):
    """The server answered with a 4xx or 5xx status."""


class BadRequest(HTTPError, ValueError):
    """400: the server rejected the request (wrong shape, datatype, name...)."""


class ModelNotFound(HTTPError, LookupError):
    """404: no such model, version or layer."""


class PayloadTooLarge(HTTPError, ValueError):
    """413: the request body exceeds the server's limit."""


class Unauthorized(HTTPError, PermissionError):
    """401/403: no valid token, or the endpoints are disabled on the server."""


class NotReady(HTTPError):
    """503: the server or model is not ready."""


class ServerError(HTTPError):
    """Any other 5xx: the server failed."""


_ERROR_BY_STATUS: dict[int, type[HTTPError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Unauthorized,
    404: ModelNotFound,
    413: PayloadTooLarge,
    503: NotReady,
}


def error_class_for(status_code: int) -> type[HTTPError]:
    """The exception class for an error status, falling back on its 4xx/5xx family."""
    fallback = ServerError if status_code >= 500 else HTTPError
    return _ERROR_BY_STATUS.get(status_code, fallback)


def error_from_response(response: requests.Response) -> HTTPError:
    """Build the exception describing an error response."""
    return error_class_for(response.status_code)(message_from_response(response), response)


def message_from_response(response: requests.Response) -> str:
    """The server's `{"error": ...}` text, else the body text, else the reason."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    text = (response.text or "").strip()
    return text[:_MAX_TEXT_IN_MESSAGE] or response.reason or f"HTTP {response.status_code}"
