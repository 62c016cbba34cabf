"""layerserve's gunicorn worker: an event loop gathers whole requests, request threads run them.

gunicorn's own threaded worker (gthread) hands a connection to a thread as soon as its first
byte arrives, and the thread then waits on the client: 16 sockets that send one byte each hold
every thread of a 2-worker server. Here the loop (event_loop.py) buffers every request until it
is whole, within deadlines, so a thread only ever runs a complete request.

From gunicorn this class takes the process model and nothing else: the master forks it, it
heartbeats (`notify`), it stops on SIGTERM (gracefully) or SIGQUIT/SIGINT (at once), and it
exits when the master is gone or after `max_requests`. The master hands it, before the fork, its
slot in the connection table (balance.py), the intake limits and how many requests may run at
once (gunicorn.conf.py).
"""

import os
import time

from gunicorn.workers.base import Worker

from ..sharing import request_slots
from .balance import ConnectionTable
from .connection import IntakeLimits
from .event_loop import EventLoop, json_refusal
from .wsgi_bridge import WsgiBridge

HEARTBEAT_S = 1.0


class ServingWorker(Worker):
    connection_table: ConnectionTable | None = None  # set with connection_slot by the master
    connection_slot: int = -1
    active_requests: int | None = None  # None: every request thread runs at once
    intake_limits: IntakeLimits | None = None
    render_refusal = staticmethod(json_refusal)  # the master gives the app's error shape
    grpc_listener = None  # the gRPC port's socket, opened by the master (gunicorn.conf.py)
    grpc_calls = None  # set after the fork once the worker serves gRPC on that socket

    def init_process(self):
        if self.cfg.is_ssl:
            raise RuntimeError("this worker serves plain HTTP; terminate TLS in front of it (nginx, an ingress)")
        if self.active_requests:
            request_slots.limit(self.active_requests)
        super().init_process()

    def run(self):
        listener = self.sockets[0]
        host, port = _server_address(listener.getsockname())
        loop = EventLoop(
            listeners=[s.sock for s in self.sockets],
            bridge=WsgiBridge(self.wsgi, server_name=host, server_port=port),
            limits=self.intake_limits or IntakeLimits(keepalive=self.cfg.keepalive),
            threads=self.cfg.threads,
            table=self.connection_table,
            slot=self.connection_slot,
            signal_fd=self.PIPE[0],
            render_refusal=self.render_refusal,
            grpc_listeners=[self.grpc_listener] if self.grpc_calls else [],
            grpc_calls=self.grpc_calls,
        )
        try:
            self._serve(loop)
            self._stop_gracefully(loop)
        finally:
            loop.shutdown()

    def _serve(self, loop: EventLoop) -> None:
        next_beat = 0.0
        while self.alive:
            loop.run_once(HEARTBEAT_S, accepting=True)
            if loop.answered >= self.max_requests:
                self.log.info("worker %s answered max_requests (%s); restarting", self.pid, self.max_requests)
                self.alive = False
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + HEARTBEAT_S
                self.notify()
                if self.ppid != os.getppid():
                    self.log.info("parent changed, shutting down: %s", self)
                    self.alive = False

    def _stop_gracefully(self, loop: EventLoop) -> None:
        """Stop accepting, close idle connections, answer the requests under way (within the
        graceful timeout), then leave."""
        loop.stopping = True
        deadline = time.monotonic() + self.cfg.graceful_timeout
        loop.close_idle()
        while loop.busy() and time.monotonic() < deadline:
            loop.run_once(0.1, accepting=False)
            loop.close_idle()
            self.notify()
        loop.close_idle()


def _server_address(address) -> tuple[str, str]:
    if isinstance(address, tuple):
        return str(address[0]), str(address[1])
    return str(address), ""  # a unix socket
