"""The HTTP API: one blueprint per protocol, errors in one place, the OpenAPI document."""

import functools
import time

from flask import Flask, current_app, g, request
from flask_smorest import Api

from .. import __version__
from ..repository import ModelRepository
from . import request_id
from .auth import AdminToken, InferenceToken
from .errors import register_error_handlers
from .infer_route import InferRoute, document_infer_route
from .json_provider import OrjsonProvider
from .request_id import resolve_request_id
from .request_log import RequestLog
from .schemas import ErrorSchema

# Every per-model route exists in both forms.
MODEL = "/models/<name>"
MODEL_VERSION = "/models/<name>/versions/<version>"


class LayerserveApi(Api):
    ERROR_SCHEMA = ErrorSchema  # documents the body error_response really sends


def repository(app: Flask | None = None) -> ModelRepository:
    return (app or current_app).extensions["layerserve"]


# Inference served by Flask views (V2 infer is served by InferRoute), and their protocol label.
INFERENCE_ENDPOINTS = {"v1.model_predict": "v1"}


def inference_token_required(view):
    """For inference served by Flask (trace, :predict): the token the infer route asks for,
    checked before the body is read (place it above @blp.arguments)."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        current_app.extensions["layerserve.inference_token"].check(request.headers.get("Authorization"))
        return view(*args, **kwargs)

    return checked


def init_api(app: Flask) -> None:
    from . import docs, layers, metrics, model_repository, trace, v1, v2

    app.config.update(
        API_TITLE="layerserve",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        **docs.SETTINGS,
    )
    app.json = OrjsonProvider(app)
    api = LayerserveApi(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for blueprint in (v2.blp, layers.blp, trace.blp, v1.blp, model_repository.blp):
        api.register_blueprint(blueprint)
    app.extensions["layerserve.admin_token"] = AdminToken(app.config["ADMIN_TOKEN"])
    inference_token = app.extensions["layerserve.inference_token"] = InferenceToken(app.config["INFER_TOKEN"])
    document_infer_route(api)
    app.register_blueprint(docs.blp)  # Swagger UI's files; not an API operation
    register_error_handlers(app)
    if app.config["METRICS"]:
        api.register_blueprint(metrics.blp)
    request_log = RequestLog(app.config["REQUEST_LOG"])
    app.extensions["layerserve.request_log"] = request_log
    app.wsgi_app = InferRoute(
        app.wsgi_app,
        repository(app),
        app.config["MAX_CONTENT_LENGTH"],
        request_log,
        app.extensions["layerserve.metrics"],
        inference_token,
        app.config["INFER_TIMEOUT"],
    )
    app.before_request(_start_request)
    app.after_request(_finish_request)


def _start_request():
    g.started = time.perf_counter()
    g.request_id = resolve_request_id(request.headers.get(request_id.HEADER))


def _finish_request(response):
    response.headers[request_id.HEADER] = g.get("request_id", "")
    started = g.get("started", time.perf_counter())
    model = (request.view_args or {}).get("name")
    current_app.extensions["layerserve.request_log"].write(
        g.request_id, request.method, request.path, response.status_code, started, model=model, error=g.get("error")
    )
    protocol = INFERENCE_ENDPOINTS.get(request.endpoint)
    if protocol is not None:
        current_app.extensions["layerserve.metrics"].inference_request(
            model, protocol, response.status_code, time.perf_counter() - started
        )
    return response
