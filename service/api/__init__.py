"""The HTTP API: one blueprint per protocol, one request pipeline, errors in one place, the OpenAPI document.

May import: runtime, tensors, stack, service.errors. The server (gunicorn) is wired in by the app
factory; the API never imports it.
"""

import functools

from flask import Flask, g, request
from flask_smorest import Api

from .. import __version__
from ..runtime.repository import ModelRepository
from . import request_id
from .error_handlers import register_error_handlers
from .infer_route import InferRoute, document_infer_route
from .json_provider import OrjsonProvider
from .schemas import ErrorSchema
from .services import EXTENSION_KEY, Services, services

# Every per-model route exists in both forms.
MODEL = "/models/<name>"
MODEL_VERSION = "/models/<name>/versions/<version>"


class LayerserveApi(Api):
    ERROR_SCHEMA = ErrorSchema  # documents the body error_response really sends


def repository() -> ModelRepository:
    return services().repository


# Inference served by Flask views (V2 infer is served by InferRoute), and their protocol label.
INFERENCE_ENDPOINTS = {"v1.model_predict": "v1"}


def inference_token_required(view):
    """For inference served by Flask (trace, :predict): the token the infer route asks for,
    checked before the body is read (place it above @blp.arguments)."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        services().pipeline.check_inference_token(request.headers.get("Authorization"))
        return view(*args, **kwargs)

    return checked


def init_api(app: Flask, parts: Services) -> None:
    from . import docs, layers, metrics_endpoint, model_repository, trace, v1, v2

    app.extensions[EXTENSION_KEY] = parts
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
    document_infer_route(api)
    app.register_blueprint(docs.blp)  # Swagger UI's files; not an API operation
    register_error_handlers(app)
    if app.config["METRICS"]:
        api.register_blueprint(metrics_endpoint.blp)
    app.wsgi_app = InferRoute(
        app.wsgi_app, repository=parts.repository, pipeline=parts.pipeline, infer_timeout=app.config["INFER_TIMEOUT"]
    )
    app.before_request(_start_request)
    app.after_request(_finish_request)


def _start_request():
    g.exchange = services().pipeline.begin(request.method, request.path, request.headers.get(request_id.HEADER))


def _finish_request(response):
    exchange = g.get("exchange")
    if exchange is None:  # failed before the first hook ran (e.g. routing in a test client)
        exchange = g.exchange = services().pipeline.begin(request.method, request.path, None)
    response.headers[request_id.HEADER] = exchange.request_id
    exchange.details.setdefault("model", (request.view_args or {}).get("name"))
    exchange.protocol = INFERENCE_ENDPOINTS.get(request.endpoint)
    services().pipeline.finish(exchange, response.status_code)
    return response
