"""The HTTP API: one blueprint per protocol, errors in one place, the OpenAPI document."""

from flask import Flask, current_app, g, request
from flask_smorest import Api

from .. import __version__
from ..repository import ModelRepository
from . import request_id
from .errors import handle_http_exception, register_error_handlers
from .infer_route import InferRoute, document_infer_route
from .request_id import resolve_request_id
from .schemas import ErrorSchema


class LayerserveApi(Api):
    ERROR_SCHEMA = ErrorSchema  # documents the body error_response really sends

    def handle_http_exception(self, error):
        return handle_http_exception(error)


def repository(app: Flask | None = None) -> ModelRepository:
    return (app or current_app).extensions["layerserve"]


def init_api(app: Flask) -> None:
    from . import layers, v1, v2

    app.config.update(
        API_TITLE="layerserve",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = LayerserveApi(app)
    for blueprint in (v2.blp, layers.blp, v1.blp):
        api.register_blueprint(blueprint)
    document_infer_route(api)
    register_error_handlers(app)
    app.wsgi_app = InferRoute(app.wsgi_app, repository(app), app.config["MAX_CONTENT_LENGTH"])
    app.before_request(_assign_request_id)
    app.after_request(_return_request_id)


def _assign_request_id():
    g.request_id = resolve_request_id(request.headers.get(request_id.HEADER))


def _return_request_id(response):
    response.headers[request_id.HEADER] = g.get("request_id", "")
    return response
