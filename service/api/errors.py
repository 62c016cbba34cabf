"""One JSON error shape for every failure: {"error": "...", "request_id": "..."}."""

import logging

from flask import Flask, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from ..errors import BodyTooLarge, ServiceError
from ..errors import MethodNotAllowed as NotAllowed

log = logging.getLogger(__name__)


def error_response(message: str, status: int, headers=()):
    g.error = message  # for the request log
    body = {"error": message, "request_id": g.get("request_id")}
    return body, status, list(headers)


def handle_service_error(error: ServiceError):
    return error_response(error.message, error.status, error.headers)


def handle_http_exception(error: HTTPException):
    # werkzeug's own headers say e.g. which methods are allowed (Allow); the body is ours, in JSON
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    return error_response(describe_http_error(error), error.code or 500, headers)


def describe_http_error(error: HTTPException) -> str:
    if isinstance(error, RequestEntityTooLarge):
        return BodyTooLarge(current_app.config["MAX_CONTENT_LENGTH"]).message
    if isinstance(error, NotFound):
        return f"no such endpoint: {request.method} {request.path}"
    if isinstance(error, MethodNotAllowed):
        return NotAllowed(request.method, request.path, error.valid_methods or []).message
    if error.code and error.code >= 500:
        return f"internal error; see the server log for request {g.get('request_id')}"
    return error.description or error.name


def handle_unexpected(error: Exception):
    log.exception("unexpected error in request %s %s (request %s)", request.method, request.path, g.get("request_id"))
    return error_response(f"internal error; see the server log for request {g.get('request_id')}", 500)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
