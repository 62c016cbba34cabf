"""The inference route as plain WSGI, in front of Flask.

A small model's forward pass takes tens of microseconds; Flask's request machinery and
marshmallow would take several times that. This route does only what inference needs: read
the body, check it against the same schema (compiled), decode, forward, encode. Every other
path goes on to Flask. Errors keep the API's one JSON shape.
"""

import re

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map, Rule

from ..errors import MethodNotAllowed
from ..runtime.inference import PreparedInference
from ..runtime.repository import ModelRepository
from ..sharing.answer_later import ENVIRON_KEY as ANSWER_LATER
from ..sharing.answer_later import LATER
from ..stack.deadline import Deadline
from ..tensors.codec import (
    BINARY_CONTENT_TYPE,
    BINARY_HEADER,
    JSON_CONTENT_TYPE,
    binary_response,
    encode_json,
    read_body,
)
from .auth import INFERENCE_SECURITY
from .fastcheck import compile_schema
from .pipeline import RequestPipeline
from .request_id import ENVIRON_KEY, HEADER
from .schemas import BinaryHeaderSchema, InferRequestSchema, InferResponseSchema

RULES = ("/v2/models/<name>/infer", "/v2/models/<name>/versions/<version>/infer")
INFER_PATH = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer/?$")  # slash: like Flask
_BINARY_ENVIRON_KEY = "HTTP_" + BINARY_HEADER.upper().replace("-", "_")
_STATUS_LINES = {code: f"{code} {reason.upper()}" for code, reason in HTTP_STATUS_CODES.items()}

check_infer_request = compile_schema(InferRequestSchema)


class InferRoute:
    def __init__(self, next_app, *, repository: ModelRepository, pipeline: RequestPipeline, infer_timeout: float):
        self.next_app = next_app
        self.repository = repository
        self.pipeline = pipeline
        self.infer_timeout = infer_timeout

    def __call__(self, environ, start_response):
        match = INFER_PATH.match(environ.get("PATH_INFO", ""))
        if match is None:
            return self.next_app(environ, start_response)
        exchange = self.pipeline.begin(environ["REQUEST_METHOD"], environ["PATH_INFO"], environ.get(ENVIRON_KEY))
        exchange.protocol = "v2"
        exchange.details.update(model=match["name"], version=match["version"])
        deadline = Deadline.after(self.infer_timeout)  # from arrival: reading the body counts too
        try:
            if environ["REQUEST_METHOD"] != "POST":
                raise MethodNotAllowed(environ["REQUEST_METHOD"], environ["PATH_INFO"], ["POST"])
            self.pipeline.check_inference_token(environ.get("HTTP_AUTHORIZATION"))
            model = self.repository.get(match["name"], match["version"])
            exchange.details["version"] = model.version
            later = environ.get(ANSWER_LATER)
            if later is not None and model.batcher is not None:
                self._infer_later(environ, model, exchange, deadline, later)
                return LATER
            status, body, headers = self._infer(environ, model, exchange.details, deadline)
        except Exception as error:  # noqa: BLE001 (the pipeline logs what is not a ServiceError)
            status, body, headers = self._error(exchange, error)
        status_line, headers = self._finish(exchange, status, body, headers)
        start_response(status_line, headers)
        return [body]

    def _infer(self, environ, model, details: dict, deadline: Deadline):
        with model.expecting():  # from before the body is read: the batcher knows this request is coming
            prepared = self._prepare(environ, model)
            return self._answer(prepared.respond(model.infer(prepared.arrays, deadline)), details)

    def _infer_later(self, environ, model, exchange, deadline: Deadline, later) -> None:
        """A batched model: the request waits for its batch without a thread, and is answered
        from the batcher thread (sharing/answer_later.py)."""
        model.arrive()
        try:
            prepared = self._prepare(environ, model)
            send = later()

            def done(results: dict | None, error: BaseException | None) -> None:
                try:
                    if error is not None:
                        raise error
                    status, body, headers = self._answer(prepared.respond(results), exchange.details)
                except Exception as failure:  # noqa: BLE001 (as in __call__)
                    status, body, headers = self._error(exchange, failure)
                finally:
                    model.leave(queued=True)
                send(*self._finish(exchange, status, body, headers), body)

            model.infer_later(prepared.arrays, deadline, done)
        except BaseException:
            model.leave(queued=False)
            raise

    def _prepare(self, environ, model) -> PreparedInference:
        document, binary = read_body(
            self.pipeline.read_body(environ), environ.get("CONTENT_TYPE", ""), environ.get(_BINARY_ENVIRON_KEY)
        )
        check_infer_request(document)
        return PreparedInference(model, document, binary)

    @staticmethod
    def _answer(answered: tuple[dict, set[str]], details: dict):
        response, binary_outputs = answered
        details["batch_size"] = response["outputs"][0]["shape"][0] if response["outputs"] else None
        if not binary_outputs:
            return 200, encode_json(response), []
        body, header_length = binary_response(response, binary_outputs)
        return 200, body, [("Content-Type", BINARY_CONTENT_TYPE), (BINARY_HEADER, str(header_length))]

    def _error(self, exchange, error: BaseException):
        answer = self.pipeline.answer_error(exchange, error)
        return answer.status, encode_json(answer.body), answer.headers

    def _finish(self, exchange, status: int, body: bytes, headers: list) -> tuple[str, list]:
        """The status line and headers of the answer; the request's log line and metrics."""
        headers = [("Content-Length", str(len(body))), (HEADER, exchange.request_id), *headers]
        if not any(name == "Content-Type" for name, _ in headers):
            headers.append(("Content-Type", JSON_CONTENT_TYPE))
        self.pipeline.finish(exchange, status)
        return _STATUS_LINES[status], headers


# The binary tensor extension's body, either way: a JSON header, then the tensors' raw bytes.
_BINARY_BODY = {"schema": {"type": "string", "format": "binary"}}


def document_infer_route(api) -> None:
    """Add the route to /openapi.json: it is served here, not by a Flask view. apispec reads the
    marshmallow schemas as it does for the views: it registers them and refers to them, and turns
    the header schema and the rules' <name> and <version> into parameters."""
    rules = [Rule(rule, defaults={}) for rule in RULES]
    Map(rules)  # bound, with a blueprint's empty defaults: what flask-smorest reads a view's parameters from
    for rule in rules:
        api.spec.path(rule=rule, operations={"post": _infer_operation()})  # a fresh dict: apispec fills it in


def _infer_operation() -> dict:
    return {
        "tags": ["v2"],
        "summary": "Run a batch through the model",
        "description": (
            "Inputs are JSON tensors (name, shape, datatype, data flat or nested), or raw bytes after a JSON "
            f"header with the binary tensor extension ({BINARY_HEADER}, parameters.binary_data_size)."
        ),
        "parameters": [{"in": "header", "schema": BinaryHeaderSchema}],
        "security": INFERENCE_SECURITY,
        "requestBody": {
            "required": True,
            "content": {JSON_CONTENT_TYPE: {"schema": InferRequestSchema}, BINARY_CONTENT_TYPE: _BINARY_BODY},
        },
        "responses": {
            "200": {
                "description": f"the outputs; when binary outputs are asked for, a JSON header of {BINARY_HEADER} "
                "bytes followed by their raw data",
                "content": {JSON_CONTENT_TYPE: {"schema": InferResponseSchema}, BINARY_CONTENT_TYPE: _BINARY_BODY},
            },
            **{str(code): "DEFAULT_ERROR" for code in (400, 401, 404, 413, 415, 503, 504)},
        },
    }
