"""gRPC in the workers: one listening socket on the gRPC port, opened by the master before the
first fork and shared by every worker as gunicorn shares the HTTP one, so the workers balance
their connections of both kinds (service/server/balance.py); and the calls each worker's event
loop runs on it. (A socket per worker with SO_REUSEPORT would leave the split to the kernel's
hash of each connection: 16 connections came to 12 and 4, 10 and 6.)

The transport is the worker's own (http2.py under the event loop), not grpcio's server: a
unary call through grpcio's server costs ~200 µs of CPU in Python before any work is done
(an empty method answered 4,700 calls/s on one core), more than a whole small-model request
over HTTP. grpcio's generated stubs still define the methods and their messages.
"""

import socket
from typing import TYPE_CHECKING

from ..runtime.repository import ModelRepository
from .calls import GrpcCalls
from .servicer import REQUEST_READERS, InferenceServicer

if TYPE_CHECKING:
    from ..api.pipeline import RequestPipeline

BACKLOG = 2048


def grpc_listener(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, for the workers to inherit."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError as error:
        listener.close()
        raise RuntimeError(f"gRPC cannot listen on {host}:{port} (LAYERSERVE_GRPC_PORT): {error}") from error
    return listener


def grpc_calls(
    *, repository: ModelRepository, pipeline: "RequestPipeline", infer_timeout: float, max_message_bytes: int
) -> GrpcCalls:
    return GrpcCalls(InferenceServicer(repository, pipeline, infer_timeout), max_message_bytes, REQUEST_READERS)
