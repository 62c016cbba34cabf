"""The HTTP API: one blueprint per protocol, errors in one place, the OpenAPI document."""

import uuid

from flask import Flask, current_app, g, request
from flask_smorest import Api

from .. import __version__
from ..repository import ModelRepository
from .errors import handle_http_exception, register_error_handlers
from .schemas import ErrorSchema

REQUEST_ID_HEADER = "X-Request-ID"


class LayerserveApi(Api):
    ERROR_SCHEMA = ErrorSchema  # documents the body error_response really sends

    def handle_http_exception(self, error):
        return handle_http_exception(error)


def repository() -> ModelRepository:
    return current_app.extensions["layerserve"]


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
    register_error_handlers(app)
    app.before_request(_assign_request_id)
    app.after_request(_return_request_id)


def _assign_request_id():
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex


def _return_request_id(response):
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    return response
