"""The gRPC server of one worker process: every worker listens on the same port (SO_REUSEPORT)
and the kernel spreads connections among them, as it does for HTTP."""

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import grpc

from ..runtime.repository import ModelRepository
from . import grpc_predict_v2_pb2_grpc as pb_grpc
from .servicer import InferenceServicer

if TYPE_CHECKING:
    from ..api.pipeline import RequestPipeline

STOP_GRACE_S = 5.0


def start_grpc_server(
    *,
    host: str,
    port: int,
    threads: int,
    repository: ModelRepository,
    pipeline: "RequestPipeline",
    infer_timeout: float,
    max_message_bytes: int,
) -> grpc.Server:
    """Listening and serving on `threads` threads of this process. Start it in the process that
    serves (a gunicorn worker after the fork): gRPC's threads do not survive a fork."""
    options = [
        ("grpc.so_reuseport", 1),
        # the body limit of HTTP (LAYERSERVE_MAX_BODY_BYTES): gRPC answers RESOURCE_EXHAUSTED past it
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", -1),
    ]
    server = grpc.server(ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"), options=options)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(repository, pipeline, infer_timeout), server)
    address = f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise RuntimeError(f"gRPC cannot listen on {address} (LAYERSERVE_GRPC_PORT)")
    server.start()
    return server


def stop_grpc_server(server: grpc.Server) -> None:
    """Calls in progress get STOP_GRACE_S to finish; new ones are refused."""
    server.stop(STOP_GRACE_S).wait()
