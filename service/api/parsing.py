"""Request bodies: strict JSON, checked by marshmallow, with errors that name the field."""

from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

from ..codec import parse_json
from ..errors import BadRequest, UnsupportedMediaType
from ..stack.schema import flatten_messages


class StrictJsonParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req, schema):
        mimetype = req.mimetype
        if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
            raise UnsupportedMediaType(f"Content-Type must be application/json, got {mimetype!r}")
        body = parse_json(req.get_data(cache=True))
        if not isinstance(body, dict):
            raise BadRequest(f"body must be a JSON object, got a JSON {type(body).__name__}")
        return body

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        messages = error.messages.get("json", error.messages) if isinstance(error.messages, dict) else error.messages
        raise BadRequest("invalid request: " + "; ".join(flatten_messages(messages)))


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictJsonParser()
