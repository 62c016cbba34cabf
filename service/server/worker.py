"""gunicorn's threaded worker (gthread), tuned for keep-alive clients.

Four changes, each measured on a 2-vCPU machine with wrk (16 keep-alive connections, tiny
model, 2 workers):

- Connections spread evenly. Every worker waits on the same listening socket and whichever
  wakes first accepts. Keep-alive clients (a proxy's connection pool, a load generator) connect
  once and then send every request on those connections, so an early lead sticks: 16
  connections split 16/0 served 1,150 req/s, split 9/7 about 3,300. Workers count their open
  connections in a ConnectionTable the master shares with them; one that holds more than a
  sibling stops listening for ACCEPT_PAUSE_S and takes the connection only if it is still
  waiting then, so a busy or stuck sibling never leaves a client unanswered.
- A busy connection stays with its thread. After an answer, gthread hands the connection back
  to the main thread's poller, which hands the next request to a thread again: two thread
  switches and about ten system calls per request. Here the thread waits up to
  NEXT_REQUEST_WAIT_S for the next request itself, unless another connection is waiting for a
  thread. Under strace (4 connections, 3 s) that served 2,987 requests instead of 1,198.
- At most `active_requests` requests of the worker run at once, the others wait in arrival
  order (service/sharing/request_slots.py): tiny model, p99 21 ms → 8 ms at the same throughput.
- The Date header is formatted once a second instead of for every response (email.utils took
  ~8% of a worker's Python time).

Without a ConnectionTable (gunicorn.conf.py hands one to each worker before the fork) the
worker does not balance, and is otherwise the same.
"""

import select
import socket
import threading
import time

from gunicorn import util
from gunicorn.workers.gthread import _DEFER, DEFAULT_WORKER_DATA_TIMEOUT, ThreadWorker

from ..sharing import request_slots
from .balance import ConnectionTable

ACCEPT_PAUSE_S = 0.002
NEXT_REQUEST_WAIT_S = 0.002


class ServingThreadWorker(ThreadWorker):
    connection_table: ConnectionTable | None = None  # set with connection_slot by the master
    connection_slot: int = -1
    active_requests: int | None = None  # set by the master; None: every request thread runs at once

    def __init__(self, *args, **kwargs):
        self._open = 0
        self._paused_until = 0.0
        self._take_next = False
        self._queued = 0  # connections handed to the thread pool that no thread has started on
        self._queued_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def init_process(self):
        util.http_date = _http_date_once_a_second
        # Slots are taken per HTTP/1 request; TLS handshakes and HTTP/2 streams are not split
        # into requests here, so with those every thread runs, as in gthread.
        if self.active_requests and not self.cfg.is_ssl and "h2" not in self.cfg.http_protocols:
            request_slots.limit(self.active_requests)
        super().init_process()

    def run(self):
        self._announce(accepting=True)
        super().run()

    # --- balance -----------------------------------------------------------------------------

    @property
    def nr_conns(self) -> int:
        return self._open

    @nr_conns.setter
    def nr_conns(self, count: int) -> None:  # ThreadWorker counts here on accept and close
        self._open = count
        if self.connection_table is not None:
            self.connection_table.set_connections(self.connection_slot, count)

    def accept(self, listener):
        if not self._take_next and self._others_have_fewer():
            self._paused_until = time.monotonic() + ACCEPT_PAUSE_S
            self.set_accept_enabled(False)
            return
        super().accept(listener)

    def _others_have_fewer(self) -> bool:
        if self.connection_table is None:
            return False
        fewest = self.connection_table.fewest_elsewhere(self.connection_slot)
        return fewest is not None and fewest < self._open

    def _announce(self, accepting: bool) -> None:
        if self.connection_table is not None:
            self.connection_table.set_accepting(self.connection_slot, accepting)

    def set_accept_enabled(self, enabled):
        if not self.alive:
            self._paused_until = 0.0
            self._announce(accepting=False)  # stopping: siblings take the new connections
        if enabled and time.monotonic() < self._paused_until:
            return  # run() asks on every turn; the pause decides
        if enabled and not self._accepting and self._paused_until:
            self._paused_until = 0.0
            self._take_next = True  # still waiting after the pause: nobody else took it
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout):
        if self._take_next:
            timeout = 0.0  # only what waited through the pause, not the next arrival
        elif self.alive and self._paused_until > time.monotonic():
            timeout = min(timeout, self._paused_until - time.monotonic())
        super().wait_for_and_dispatch_events(timeout)
        self._take_next = False

    # --- busy connections --------------------------------------------------------------------

    def enqueue_req(self, conn):
        with self._queued_lock:
            self._queued += 1
        super().enqueue_req(conn)

    def handle(self, conn):
        """Serve the connection's requests while the next one follows within NEXT_REQUEST_WAIT_S
        and no other connection waits for a thread; then hand it back to the main loop."""
        with self._queued_lock:
            self._queued -= 1
        keep_alive = self._handle_one(conn)
        while keep_alive is True and self._keep_serving(conn):
            keep_alive = self._handle_one(conn)
        return keep_alive

    def _keep_serving(self, conn) -> bool:
        # _queued again after the wait: a connection that arrived meanwhile goes first
        return self.alive and not self._queued and _next_request_soon(conn) and not self._queued

    def _handle_one(self, conn):
        # A new connection gets a running slot once its request starts to arrive; until then
        # (up to gunicorn's wait, then back to the poller) it holds none.
        if not conn.initialized:
            if not conn.wait_for_data(DEFAULT_WORKER_DATA_TIMEOUT):
                return _DEFER
            if not self.cfg.is_ssl:
                conn.sock = _SlotLendingSocket(conn.sock)  # before init() gives it to the parser
        request_slots.slots.acquire()
        try:
            return super().handle(conn)
        finally:
            request_slots.slots.release()


class _SlotLendingSocket:
    """A connection's socket as gunicorn's request parser reads it: a read that would block (a
    slow client's headers or body) lends the thread's running slot to another request until
    the data arrives. Everything else is the socket's own."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def recv(self, size: int, flags: int = 0) -> bytes:
        try:
            return self._sock.recv(size, flags | socket.MSG_DONTWAIT)
        except BlockingIOError:
            with request_slots.slots.released():
                return self._sock.recv(size, flags)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _next_request_soon(conn) -> bool:
    """Whether the connection's next request is buffered already or arrives within NEXT_REQUEST_WAIT_S."""
    if conn.parser.unreader.buf.getvalue():
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(NEXT_REQUEST_WAIT_S * 1000))


_original_http_date = util.http_date
_date = (0, "")


def _http_date_once_a_second(timestamp=None) -> str:
    """gunicorn's http_date, computed once per second for the current time."""
    global _date
    if timestamp is not None:
        return _original_http_date(timestamp)
    second = int(time.time())
    if _date[0] != second:
        _date = (second, _original_http_date(second))
    return _date[1]
