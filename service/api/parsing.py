"""Request bodies: strict JSON, checked by marshmallow, with errors that name the field."""

from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

from ..codec import read_body
from ..errors import BadRequest
from ..stack.schema import flatten_messages


class StrictJsonParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req, schema):
        document, _ = read_body(req.get_data(cache=True), req.headers.get("Content-Type", ""))
        return document

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        messages = error.messages.get("json", error.messages) if isinstance(error.messages, dict) else error.messages
        raise BadRequest("invalid request: " + "; ".join(flatten_messages(messages)))


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictJsonParser()
