"""The inference route as plain WSGI, in front of Flask.

A small model's forward pass takes tens of microseconds; Flask's request machinery and
marshmallow would take several times that. This route does only what inference needs: read
the body, check it against the same schema (compiled), decode, forward, encode. Every other
path goes on to Flask. Errors keep the API's one JSON shape.
"""

import logging
import re
import time

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Rule

from .. import request_slots
from ..codec import BINARY_CONTENT_TYPE, BINARY_HEADER, JSON_CONTENT_TYPE, binary_response, encode_json, read_body
from ..deadline import Deadline
from ..errors import BadRequest, BodyTooLarge, MethodNotAllowed, ServiceError
from ..inference import infer
from ..metrics import Metrics
from ..repository import ModelRepository
from .auth import InferenceToken
from .fastcheck import compile_schema
from .request_id import ENVIRON_KEY, HEADER, resolve_request_id
from .request_log import RequestLog
from .schemas import InferRequestSchema, InferResponseSchema

log = logging.getLogger(__name__)

RULES = ("/v2/models/<name>/infer", "/v2/models/<name>/versions/<version>/infer")
INFER_PATH = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer/?$")  # slash: like Flask
_BINARY_ENVIRON_KEY = "HTTP_" + BINARY_HEADER.upper().replace("-", "_")
_STATUS_LINES = {code: f"{code} {reason.upper()}" for code, reason in HTTP_STATUS_CODES.items()}

check_infer_request = compile_schema(InferRequestSchema)


class InferRoute:
    def __init__(
        self,
        next_app,
        repository: ModelRepository,
        max_body_bytes: int,
        request_log: RequestLog,
        metrics: Metrics,
        token: InferenceToken,
        infer_timeout: float,
    ):
        self.next_app = next_app
        self.repository = repository
        self.max_body_bytes = max_body_bytes
        self.request_log = request_log
        self.metrics = metrics
        self.token = token
        self.infer_timeout = infer_timeout

    def __call__(self, environ, start_response):
        match = INFER_PATH.match(environ.get("PATH_INFO", ""))
        if match is None:
            answer = self.next_app(environ, start_response)
            request_slots.slots.release()  # the answer is made; sending it waits on the client
            return answer
        started = time.perf_counter()
        deadline = Deadline.after(self.infer_timeout)  # from arrival: reading the body counts too
        request_id = resolve_request_id(environ.get(ENVIRON_KEY))
        details = {"model": match["name"], "version": match["version"]}
        try:
            if environ["REQUEST_METHOD"] != "POST":
                raise MethodNotAllowed(environ["REQUEST_METHOD"], environ["PATH_INFO"], ["POST"])
            self.token.check(environ.get("HTTP_AUTHORIZATION"))
            status, body, headers = self._infer(environ, match["name"], match["version"], details, deadline)
        except ServiceError as error:
            status, body, headers = error.status, _error_body(error.message, request_id), list(error.headers)
            details["error"] = error.message
        except Exception:
            log.exception("unexpected error in inference (request %s)", request_id)
            message = f"internal error; see the server log for request {request_id}"
            status, body, headers = 500, _error_body(message, request_id), []
            details["error"] = message
        headers = [("Content-Length", str(len(body))), (HEADER, request_id), *headers]
        if not any(name == "Content-Type" for name, _ in headers):
            headers.append(("Content-Type", JSON_CONTENT_TYPE))
        start_response(_STATUS_LINES[status], headers)
        self.request_log.write(request_id, environ["REQUEST_METHOD"], environ["PATH_INFO"], status, started, **details)
        self.metrics.inference_request(match["name"], "v2", status, time.perf_counter() - started)
        request_slots.slots.release()  # the answer is made; sending it waits on the client
        return [body]

    def _infer(self, environ, name: str, version: str | None, details: dict, deadline: Deadline):
        model = self.repository.get(name, version)
        details["version"] = model.version
        with model.expecting():  # from before the body is read: the batcher knows this request is coming
            document, binary = read_body(
                self._read(environ), environ.get("CONTENT_TYPE", ""), environ.get(_BINARY_ENVIRON_KEY)
            )
            check_infer_request(document)
            response, binary_outputs = infer(model, document, binary, deadline)
        details["batch_size"] = response["outputs"][0]["shape"][0] if response["outputs"] else None
        if not binary_outputs:
            return 200, encode_json(response), []
        body, header_length = binary_response(response, binary_outputs)
        return 200, body, [("Content-Type", BINARY_CONTENT_TYPE), (BINARY_HEADER, str(header_length))]

    def _read(self, environ) -> bytes:
        limit = self.max_body_bytes
        declared = environ.get("CONTENT_LENGTH")
        if declared and not (declared.isascii() and declared.isdigit()):
            raise BadRequest(f"the Content-Length header is {declared!r}, not a number of bytes")
        if declared and (len(declared) > 18 or int(declared) > limit):
            raise BodyTooLarge(limit)
        body = environ["wsgi.input"].read(int(declared) if declared else limit + 1)
        if len(body) > limit:  # chunked bodies declare no length
            raise BodyTooLarge(limit)
        return body


def _error_body(message: str, request_id: str) -> bytes:
    return encode_json({"error": message, "request_id": request_id})


def document_infer_route(api) -> None:
    """Add the route to /openapi.json: it is served here, not by a Flask view."""
    for name, schema in (("InferRequest", InferRequestSchema), ("InferResponse", InferResponseSchema)):
        if name not in api.spec.components.schemas:  # the trace route may have registered it
            api.spec.components.schema(name, schema=schema)
    operation = {
        "tags": ["v2"],
        "summary": "Run a batch through the model",
        "description": (
            "Inputs are JSON tensors (name, shape, datatype, data flat or nested), or raw bytes after a JSON "
            f"header with the binary tensor extension ({BINARY_HEADER}, parameters.binary_data_size)."
        ),
        "parameters": [
            {
                "in": "header",
                "name": BINARY_HEADER,
                "required": False,
                "schema": {"type": "integer", "minimum": 0},
                "description": f"the JSON header's length in bytes; a {BINARY_CONTENT_TYPE} body needs it",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                JSON_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/InferRequest"}},
                BINARY_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        "responses": {
            "200": {
                "description": f"the outputs; when binary outputs are asked for, a JSON header of {BINARY_HEADER} "
                "bytes followed by their raw data",
                "content": {
                    JSON_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/InferResponse"}},
                    BINARY_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}},
                },
            },
            **{str(code): {"$ref": "#/components/responses/DEFAULT_ERROR"} for code in (400, 404, 413, 415, 503, 504)},
        },
    }
    for rule in RULES:
        names = re.findall(r"<(\w+)>", rule)
        parameters = [{"in": "path", "name": n, "required": True, "schema": {"type": "string"}} for n in names]
        # flask-smorest's spec takes werkzeug rules and turns <name> into {name}
        api.spec.path(rule=Rule(rule), operations={"post": operation}, parameters=parameters)
