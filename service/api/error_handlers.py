"""Flask's errors into the pipeline's one JSON error shape: {"error": "...", "request_id": "..."}."""

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from ..errors import BodyTooLarge, HttpError, ServiceError
from ..errors import MethodNotAllowed as NotAllowed
from ..errors import NotFound as NoSuchEndpoint
from .services import services


def handle_error(error: Exception):
    pipeline = services().pipeline
    exchange = g.get("exchange") or pipeline.begin(request.method, request.path, None)
    g.exchange = exchange
    answer = pipeline.answer_error(exchange, as_service_error(error))
    return answer.body, answer.status, answer.headers


def as_service_error(error: Exception) -> Exception:
    """werkzeug's own exceptions (routing, Flask's body limit) as the service's, keeping their
    headers (Allow says which methods are allowed); anything else is left as it is."""
    if not isinstance(error, HTTPException) or isinstance(error, ServiceError):
        return error
    if isinstance(error, RequestEntityTooLarge):
        return BodyTooLarge(services().pipeline.max_body_bytes)
    if isinstance(error, NotFound):
        return NoSuchEndpoint(f"no such endpoint: {request.method} {request.path}")
    if isinstance(error, MethodNotAllowed):
        return NotAllowed(request.method, request.path, error.valid_methods or [])
    if error.code and error.code < 500:
        return HttpError(error.description or error.name, error.code)
    return error


def register_error_handlers(app: Flask) -> None:
    # Flask picks the most specific handler: HTTPException too, or flask-smorest's would answer those
    for error_class in (ServiceError, HTTPException, Exception):
        app.register_error_handler(error_class, handle_error)
