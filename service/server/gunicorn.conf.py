"""gunicorn settings for layerserve, from LAYERSERVE_* environment variables (see service/config.py).

The master loads every model (preload_app): weights are read once and shared copy-on-write
by the workers. No torch compute runs before the fork: thread pools started in the master
do not survive it. Each worker sets its torch threads and warms its models up after the fork.
"""

import gc
import math
import os
import shutil
import tempfile

from service.config import settings as read_settings
from service.server.balance import ConnectionTable
from service.server.connection import IntakeLimits

_settings = read_settings()

# prometheus_client's multiprocess mode: each worker writes its metrics to files in this
# directory, and GET /metrics adds up every worker's; the activation-health counters live in
# its health/ subdirectory (service/app.py). prometheus_client reads the variable when
# it is imported, so it is set here, before the app is preloaded. `layerserve serve` drops an
# inherited one, so every start counts from zero; a reload (SIGHUP) runs this file again in the
# same master and keeps the directory. The directory made here is also named in
# LAYERSERVE_OWNED_METRICS_DIR, so on_exit removes it after a reload too.
_OWNED_METRICS_DIR = "LAYERSERVE_OWNED_METRICS_DIR"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[_OWNED_METRICS_DIR] = tempfile.mkdtemp(
        prefix="layerserve-metrics-"
    )

wsgi_app = "service.wsgi:app"
bind = f"{_settings['HOST']}:{_settings['PORT']}"
workers = _settings["WORKERS"]
worker_class = "service.server.worker.ServingWorker"  # gathers whole requests before a thread runs them
threads = _settings["THREADS"]
timeout = _settings["TIMEOUT"]
graceful_timeout = _settings["TIMEOUT"]
keepalive = math.ceil(_settings["KEEPALIVE"])  # gunicorn takes whole seconds; the worker uses the setting itself
preload_app = True
loglevel = _settings["LOG_LEVEL"]
accesslog = None  # the app writes one JSON line per request (LAYERSERVE_REQUEST_LOG)
errorlog = "-"
proc_name = "layerserve"
control_socket_disable = True  # several instances may share a host


_connections = ConnectionTable()
_intake_limits = IntakeLimits(
    header_timeout=_settings["HEADER_TIMEOUT"],
    body_timeout=_settings["BODY_TIMEOUT"],
    keepalive=_settings["KEEPALIVE"],
    max_header_bytes=_settings["MAX_HEADER_BYTES"],
    max_body_bytes=_settings["MAX_BODY_BYTES"],
    max_connections=_settings["MAX_CONNECTIONS"],
)
_poller = None


def when_ready(server):
    """The app is preloaded, no worker forked yet. The garbage collector's full pass over the
    loaded app (~190,000 objects) takes ~120 ms, a stall for every request in flight; frozen
    objects are never scanned again, and their pages are not dirtied by the scan after the
    fork, so they stay shared between the workers. Only here: a model a worker loads itself (a
    hot reload) must stay collectable, or unloading it would leak it.

    The gRPC port is opened here too, so a port already taken stops the server at once, with
    gunicorn's "Error:" line naming it."""
    gc.freeze()
    _grpc_listener(server)


def _grpc_listener(server):
    """The gRPC port's listening socket (None: gRPC is off), opened once by the master and kept
    on the arbiter, which outlives a reload (SIGHUP runs this file again)."""
    if not _settings["GRPC_PORT"]:
        return None
    if getattr(server, "layerserve_grpc_listener", None) is None:
        from service.grpc_api.server import grpc_listener

        server.layerserve_grpc_listener = grpc_listener(_settings["HOST"], _settings["GRPC_PORT"])
    return server.layerserve_grpc_listener


def pre_fork(server, worker):
    """Before each fork: the worker's place in the table where workers count their connections,
    its intake limits, how many of its requests may run at once, and the app's error shape for
    the requests it refuses before they are whole."""
    worker.connection_table = _connections
    worker.connection_slot = _connections.claim()
    worker.intake_limits = _intake_limits
    worker.active_requests = _settings["ACTIVE_REQUESTS"]
    worker.render_refusal = server.app.wsgi().extensions["layerserve"].pipeline.refusal
    worker.repository_poller = _poller_for(server.app.wsgi().extensions["layerserve"].sync)
    worker.grpc_listener = _grpc_listener(server)


def _poller_for(sync):
    """Poll mode's one poller per loaded app, made in the master: a reload (SIGHUP) loads a new app."""
    # imported here: it imports prometheus_client, which must not be imported before the
    # multiprocess directory above is set
    from service.server.repository_poll import RepositoryPoller

    global _poller
    if _settings["REPOSITORY_POLL_S"] and (_poller is None or _poller.sync is not sync):
        _poller = RepositoryPoller(sync, _settings["REPOSITORY_POLL_S"])
    return _poller


def post_worker_init(worker):
    import torch

    torch.set_num_threads(_settings["TORCH_THREADS"])
    # first the hot reloads published before this worker started (a replacement for one that
    # died), from disk and warmed up; then the warm-up of the models loaded by the master
    worker.wsgi.extensions["layerserve"].sync.start(watch=True)
    worker.wsgi.extensions["layerserve"].repository.warm_up()
    worker.log.info("worker %s warmed up its models", worker.pid)
    if worker.grpc_listener is not None:
        _serve_grpc(worker)
    if worker.repository_poller:
        worker.repository_poller.start()  # LAYERSERVE_REPOSITORY_POLL_S: one worker at a time polls


def _serve_grpc(worker):
    """The Open Inference Protocol over gRPC from this worker too, on the same models, token and
    limits: its event loop serves the gRPC port beside the HTTP one."""
    from service.grpc_api.server import grpc_calls

    parts = worker.wsgi.extensions["layerserve"]
    worker.grpc_calls = grpc_calls(
        repository=parts.repository,
        pipeline=parts.pipeline,
        infer_timeout=_settings["INFER_TIMEOUT"],
        max_message_bytes=_settings["MAX_BODY_BYTES"],
    )
    worker.log.info("worker %s serves gRPC on %s:%s", worker.pid, _settings["HOST"], _settings["GRPC_PORT"])


def child_exit(server, worker):
    """In the master, once a worker has exited (even by SIGKILL): a reload no longer waits for it,
    and multiprocess metrics drop its live-only gauge files (its counters and histograms stay
    in the totals)."""
    from prometheus_client import multiprocess

    worker.connection_table.release(worker.connection_slot)  # the table it was given (SIGHUP makes a new one)
    server.app.wsgi().extensions["layerserve"].sync.shared.release(worker.pid)
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    owned = os.environ.get(_OWNED_METRICS_DIR)
    if owned and owned == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(owned, ignore_errors=True)
