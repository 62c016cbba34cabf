"""gRPC's unary calls on the worker's own HTTP/2 transport (service/grpc_api/http2.py).

A call's path picks the servicer's method from the handler table grpcio's generated stubs
build; its one message comes out of gRPC's length-prefixed framing; the answer goes back as a
header block, the framed message and trailers carrying grpc-status (and grpc-message on an
error), or as one block of trailers alone when there is no message.
"""

import logging
import re
import struct
from urllib.parse import quote

import grpc
from google.protobuf.message import DecodeError

from ..stack.deadline import Deadline
from . import grpc_predict_v2_pb2_grpc as pb_grpc
from . import http2
from .messages import EncodedAnswer

log = logging.getLogger(__name__)

HEAD = http2.STATUS_200 + http2.literal(b"content-type", b"application/grpc")
_STATUS = {code: http2.literal(b"grpc-status", str(code.value[0]).encode()) for code in grpc.StatusCode}
_PREFIX = struct.Struct(">BI")  # compressed flag, message length
# grpc-timeout (gRPC over HTTP2): at most 8 digits and a unit, hours down to nanoseconds
_TIMEOUT = re.compile(rb"([0-9]{1,8})([HMSmun])")
_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


class CallAborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(details)
        self.code, self.details = code, details


class CallContext:
    """What a servicer uses of its call, as grpc.ServicerContext has it: the call's metadata
    (by key), its trailing metadata, and abort."""

    def __init__(self, headers: dict[bytes, bytes]):
        self._headers = headers
        self.trailing: tuple = ()
        self.deadline: Deadline | None = None  # the client's (grpc-timeout), from the call's arrival

    def metadata_value(self, key: str) -> str | None:
        """One custom metadata value by its (lowercase) key; pseudo-headers and binary (-bin)
        metadata are not among them."""
        name = key.encode("latin-1")
        value = self._headers.get(name)
        return value.decode("latin-1") if value is not None and _is_metadata(name) else None

    def set_trailing_metadata(self, metadata) -> None:
        self.trailing = tuple(metadata)

    def abort(self, code: grpc.StatusCode, details: str):
        raise CallAborted(code, details)


class _HandlerTable:
    """Stands in for a grpc.Server when the generated stubs register a servicer's methods."""

    def __init__(self):
        self.methods: dict[bytes, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers) -> None:
        pass  # the same methods come to add_registered_method_handlers by name

    def add_registered_method_handlers(self, service: str, handlers: dict) -> None:
        for name, handler in handlers.items():
            self.methods[f"/{service}/{name}".encode()] = handler


class GrpcCalls:
    """What the event loop runs for each call that arrived whole: `answer(call)` gives the
    header block, the DATA payload and the trailers (`answer` never raises)."""

    def __init__(self, servicer, max_message_bytes: int, readers: dict | None = None):
        """`readers`: a request deserializer by method path, in place of the generated one."""
        table = _HandlerTable()
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, table)
        self.methods = table.methods
        for path, reader in (readers or {}).items():
            self.methods[path.encode()] = self.methods[path.encode()]._replace(request_deserializer=reader)
        self.max_message_bytes = max_message_bytes

    def answer(self, call: http2.Call) -> tuple[bytes, bytes, bytes]:
        context = CallContext(call.headers)
        try:
            context.deadline = _client_deadline(call)
            handler = self._handler(call)
            request = handler.request_deserializer(self._message(call))
            answer = handler.unary_unary(request, context)
            if isinstance(answer, EncodedAnswer):
                message = b"".join([_PREFIX.pack(0, answer.size), *answer.parts])
            else:
                encoded = handler.response_serializer(answer)
                message = _PREFIX.pack(0, len(encoded)) + encoded
        except CallAborted as aborted:
            return _trailers_only(aborted.code, aborted.details, context.trailing)
        except DecodeError as error:
            return _trailers_only(grpc.StatusCode.INVALID_ARGUMENT, f"the message does not decode: {error}", ())
        except Exception:  # a fault of ours: logged with its traceback, answered without it
            log.exception("gRPC call %s failed", call.headers.get(b":path", b"").decode("latin-1"))
            return _trailers_only(grpc.StatusCode.INTERNAL, "internal error", context.trailing)
        return HEAD, message, _trailers(grpc.StatusCode.OK, "", context.trailing)

    def _handler(self, call: http2.Call) -> grpc.RpcMethodHandler:
        headers = call.headers
        if headers.get(b":method") != b"POST":
            raise CallAborted(grpc.StatusCode.UNIMPLEMENTED, "gRPC calls are POST requests")
        content_type = headers.get(b"content-type", b"")
        if content_type != b"application/grpc" and not content_type.startswith(
            (b"application/grpc+", b"application/grpc;")
        ):
            raise CallAborted(grpc.StatusCode.INVALID_ARGUMENT, "content-type is not application/grpc")
        handler = self.methods.get(headers.get(b":path", b""))
        if handler is None:
            raise CallAborted(grpc.StatusCode.UNIMPLEMENTED, f"no method {_text(headers.get(b':path', b''))}")
        return handler

    def _message(self, call: http2.Call) -> memoryview:
        if call.too_large:
            raise CallAborted(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the request message is larger than {self.max_message_bytes:,} bytes (LAYERSERVE_MAX_BODY_BYTES)",
            )
        body = call.body
        if len(body) < _PREFIX.size:
            raise CallAborted(grpc.StatusCode.INTERNAL, "the request carries no message")
        compressed, length = _PREFIX.unpack_from(body)
        if compressed:
            raise CallAborted(
                grpc.StatusCode.UNIMPLEMENTED, "compressed messages are not accepted (grpc-encoding identity)"
            )
        if length != len(body) - _PREFIX.size:
            raise CallAborted(grpc.StatusCode.INTERNAL, "a unary call carries exactly one message")
        return memoryview(body)[_PREFIX.size :]


def _client_deadline(call: http2.Call) -> Deadline | None:
    timeout = call.headers.get(b"grpc-timeout")
    if timeout is None:
        return None
    match = _TIMEOUT.fullmatch(timeout)
    if match is None:
        raise CallAborted(
            grpc.StatusCode.INVALID_ARGUMENT, f"grpc-timeout {_text(timeout)!r} is not 1 to 8 digits and a unit"
        )
    seconds = int(match[1]) * _TIMEOUT_UNITS[match[2]]
    return Deadline(seconds, call.started + seconds, "the call's grpc-timeout")


def _is_metadata(name: bytes) -> bool:
    return not name.startswith(b":") and not name.endswith(b"-bin")


def _trailers(code: grpc.StatusCode, details: str, trailing: tuple) -> bytes:
    block = _STATUS[code]
    if details:
        # grpc-message is percent-encoded UTF-8 (gRPC over HTTP2): printable ASCII but % stays as is
        block += http2.literal(b"grpc-message", quote(details, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~").encode())
    for name, value in trailing:
        block += http2.literal(name.encode("latin-1"), value.encode("latin-1"))
    return block


def _trailers_only(code: grpc.StatusCode, details: str, trailing: tuple) -> tuple[bytes, bytes, bytes]:
    return b"", b"", HEAD + _trailers(code, details, trailing)


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")[:200]
