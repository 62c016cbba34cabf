"""Request bodies: strict JSON, checked by marshmallow, with errors that name the field."""

from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import missing
from webargs.flaskparser import FlaskParser

from ..errors import BadRequest, join_clipped
from ..stack.schema import flatten_messages
from ..tensors.codec import read_body
from .services import services


class StrictJsonParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req, schema):
        body = services().pipeline.read_body(req.environ)
        if not body and req.content_length in (None, 0):
            return missing  # no body at all: fine where the body is optional, "missing" where it is not
        document, _ = read_body(body, req.headers.get("Content-Type", ""))
        return document

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        messages = error.messages.get("json", error.messages) if isinstance(error.messages, dict) else error.messages
        raise BadRequest("invalid request: " + join_clipped(flatten_messages(messages)))


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictJsonParser()
