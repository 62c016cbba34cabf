"""What every request passes through, written once: its id, the inference token, the body limit,
the error answer, the request log line and the inference metrics.

Two front doors use it: Flask's hooks and error handlers (every view), and the fast V2 infer
route (infer_route.py), which skips Flask's request machinery because for a small model it costs
several times the forward pass. Whatever a request passes through is decided here, for both.
"""

import logging
import time
from dataclasses import dataclass, field

from ..errors import BadRequest, BodyTooLarge, ServiceError, allocation_failure, clip
from ..runtime.metrics import Metrics
from ..tensors.codec import encode_json
from .auth import InferenceToken
from .request_id import HEADER, resolve_request_id
from .request_log import RequestLog

log = logging.getLogger(__name__)


@dataclass
class Exchange:
    """One request's bookkeeping, from arrival to its log line."""

    request_id: str
    method: str
    path: str
    started: float = field(default_factory=time.perf_counter)
    protocol: str | None = None  # set for inference: labels its metrics ("v2", "v1")
    details: dict = field(default_factory=dict)  # model, version, batch_size, error: for the log


@dataclass
class ErrorAnswer:
    status: int
    body: dict
    headers: list


class RequestPipeline:
    def __init__(
        self, *, request_log: RequestLog, metrics: Metrics, inference_token: InferenceToken, max_body_bytes: int
    ):
        self.request_log = request_log
        self.metrics = metrics
        self.inference_token = inference_token
        self.max_body_bytes = max_body_bytes

    def begin(self, method: str, path: str, incoming_request_id: str | None) -> Exchange:
        return Exchange(resolve_request_id(incoming_request_id), method, path)

    def check_inference_token(self, authorization: str | None) -> None:
        self.inference_token.check(authorization)

    def read_body(self, environ) -> bytes:
        """The whole body, refused past the limit: before reading when Content-Length says so,
        after reading one byte too many when the body is chunked and declares no length."""
        limit = self.max_body_bytes
        declared = environ.get("CONTENT_LENGTH")
        if declared and not (declared.isascii() and declared.isdigit()):
            raise BadRequest(f"the Content-Length header is {clip(declared)}, not a number of bytes")
        if declared and (len(declared) > 18 or int(declared) > limit):
            raise BodyTooLarge(limit)
        body = environ["wsgi.input"].read(int(declared) if declared else limit + 1)
        if len(body) > limit:
            raise BodyTooLarge(limit)
        return body

    def answer_error(self, exchange: Exchange, error: Exception) -> ErrorAnswer:
        """The one JSON error shape, {"error", "request_id"}; anything not a ServiceError is a bug:
        logged with its traceback, answered without one."""
        error = allocation_failure(error) or error
        if isinstance(error, ServiceError):
            status, message, headers = error.status, error.message, list(error.headers)
        else:
            log.exception("unexpected error in %s %s (request %s)", exchange.method, exchange.path, exchange.request_id)
            status, message, headers = 500, internal_error_message(exchange.request_id), []
        exchange.details["error"] = message
        return ErrorAnswer(status, {"error": message, "request_id": exchange.request_id}, headers)

    def finish(self, exchange: Exchange, status: int) -> None:
        self.request_log.write(
            exchange.request_id, exchange.method, exchange.path, status, exchange.started, **exchange.details
        )
        if exchange.protocol is not None:
            model = exchange.details.get("model")
            self.metrics.inference_request(model, exchange.protocol, status, time.perf_counter() - exchange.started)

    def refusal(self, status: int, message: str, method: str, path: str) -> tuple[bytes, tuple]:
        """A request the server refused before it was whole (too slow, too large, malformed):
        the same JSON error shape, request id and log line as every other error."""
        exchange = self.begin(method, path, None)
        exchange.details["error"] = message
        self.finish(exchange, status)
        return encode_json({"error": message, "request_id": exchange.request_id}), ((HEADER, exchange.request_id),)


def internal_error_message(request_id: str) -> str:
    return f"internal error; see the server log for request {request_id}"
