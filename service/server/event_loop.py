"""A worker's event loop: it accepts connections, gathers each request whole, and only then hands
it to a request thread; the thread's answer goes out in one write, and the loop finishes what
did not fit.

An idle or slow client costs a buffer here, never a thread: headers have `header_timeout` from
their first byte and a body `body_timeout` from the last header (then 408), an idle keep-alive
connection `keepalive`. At `max_connections` the longest idle connection makes room for a new
one; with none idle, the worker stops accepting until one closes and its siblings take the new
connections. A refused request (408, 413, 431, malformed) is answered, then the connection
reads and drops up to `linger_bytes` of what the client still sends, so that the client reads
the answer instead of a reset.

The same loop serves gRPC on its own listeners: each such connection is an HTTP/2 session
(http2_connection.py) that stays open for reading while its calls run, many at once; a call
whole is run like a request (in the loop if quick, else in a request thread), and whichever
thread has its answer frames it into the session and sends it, under the connection's lock. The
loop hears from a request thread only when the socket did not take everything, or broke.
"""

import contextlib
import errno
import json
import logging
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..grpc_api.http2 import Call, ProtocolError
from ..sharing import request_slots
from .balance import ConnectionTable
from .connection import Connection, IntakeLimits, Phase
from .http2_connection import Http2Connection
from .inline_policy import InlinePolicy
from .intake import Refusal, Request
from .wsgi_bridge import WsgiBridge, plain_answer

if TYPE_CHECKING:
    from ..grpc_api.calls import GrpcCalls

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
TICK_S = 0.25  # deadlines are checked this often
ACCEPT_PAUSE_S = 0.002  # a worker with more connections than a sibling waits this long before accepting
FULL_PAUSE_S = 0.05  # out of file descriptors: accept again after this
MAX_PENDING_BYTES = 4 << 20  # an HTTP/2 connection with this much unsent is not read until it drains
DRAIN_S = 0.5  # on a graceful stop, calls an HTTP/2 client sent before its GOAWAY are still taken this long
_LISTENER, _WAKE, _SIGNALS = "listener", "wake", "signals"


def json_refusal(status: int, message: str, method: str, path: str) -> tuple[bytes, tuple]:
    """The body and extra headers of a refused request, when the app gives no way to make them."""
    return json.dumps({"error": message}).encode(), ()


class EventLoop:
    def __init__(
        self,
        *,
        listeners: list[socket.socket],
        bridge: WsgiBridge,
        limits: IntakeLimits,
        threads: int,
        table: ConnectionTable | None = None,
        slot: int = -1,
        signal_fd: int | None = None,
        render_refusal: Callable[[int, str, str, str], tuple[bytes, tuple]] = json_refusal,
        grpc_listeners: list[socket.socket] = (),
        grpc_calls: "GrpcCalls | None" = None,
    ):
        self.listeners = [*listeners, *grpc_listeners]
        self._grpc_fds = {listener.fileno() for listener in grpc_listeners}
        self.grpc_calls = grpc_calls
        self.bridge = bridge
        self.limits = limits
        self.table, self.slot = table, slot
        self.render_refusal = render_refusal
        self.selector = selectors.DefaultSelector()
        self.connections: dict[int, Connection] = {}
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="request")
        self.answered = 0  # requests answered, for max_requests
        self.stopping = False  # set on a graceful stop: answers close their connections
        self._finished: deque = deque()
        self._sessions_to_mind: deque = deque()  # HTTP/2 connections a request thread left unsent or broken
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._wake_pending = False
        self._loop_thread = threading.get_ident()
        self.inline = InlinePolicy()
        self._listening = False
        self._paused_until = 0.0
        self._take_next = False
        self._next_sweep = 0.0
        self._draining_until = 0.0
        self.selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        if signal_fd is not None:
            self.selector.register(signal_fd, selectors.EVENT_READ, _SIGNALS)
        for listener in self.listeners:
            listener.setblocking(False)

    # --- the loop ------------------------------------------------------------------------------

    def run_once(self, timeout: float, accepting: bool) -> None:
        """Wait up to `timeout` for events and handle them, then the deadlines that passed."""
        now = time.monotonic()
        open_for_more = accepting and not self._full()
        if self.table is not None:
            self.table.set_accepting(self.slot, open_for_more)
        if self._take_next and now >= self._paused_until:
            self._take_waiting()
        self._listen(open_for_more and now >= self._paused_until)
        if self._paused_until > now:
            timeout = min(timeout, self._paused_until - now)
        for key, events in self.selector.select(min(timeout, TICK_S)):
            tag = key.data
            if tag is _LISTENER:
                self._accept(key.fileobj)
            elif tag is _WAKE:
                self._drain_wake()
            elif tag is _SIGNALS:
                _drain(key.fd)
            elif isinstance(tag, Http2Connection):
                self._session_events(tag, events)
            elif events & selectors.EVENT_WRITE:
                self._write(tag)
            else:
                self._read(tag)
        self._finish_answers()
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + TICK_S
            self._sweep(now)

    def busy(self) -> bool:
        """Whether a request is being gathered, run or written (a graceful stop waits for those),
        or calls told to stop may still be on their way (DRAIN_S)."""
        if time.monotonic() < self._draining_until:
            return True
        return any(c.phase in (Phase.BODY, Phase.BUSY, Phase.WRITING) for c in self.connections.values())

    def close_idle(self) -> None:
        """On a graceful stop: connections with no request under way are closed now. An HTTP/2
        client is told first (GOAWAY) to start no new calls, and its connection stays open
        DRAIN_S for the calls it sent before it heard."""
        now = time.monotonic()
        for connection in list(self.connections.values()):
            if isinstance(connection, Http2Connection):
                if not connection.session.draining:  # (a client's own GOAWAY counts as drained)
                    with connection.lock:
                        connection.session.drain()
                        self._flush_session(connection)
                    self._draining_until = now + DRAIN_S
                    continue
                if now < self._draining_until:
                    continue
            if connection.phase in (Phase.IDLE, Phase.HEADERS, Phase.CLOSING):
                self._close(connection)

    def shutdown(self) -> None:
        self._listen(False)
        for connection in list(self.connections.values()):
            if connection.phase is not Phase.BUSY:
                self._close(connection)
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- accepting -----------------------------------------------------------------------------

    def _listen(self, on: bool) -> None:
        if on == self._listening:
            return
        self._listening = on
        for listener in self.listeners:
            if on:
                self.selector.register(listener, selectors.EVENT_READ, _LISTENER)
            else:
                self.selector.unregister(listener)

    def _full(self) -> bool:
        return len(self.connections) >= self.limits.max_connections and not self._evict_idle()

    def _evict_idle(self) -> bool:
        idle = [c for c in self.connections.values() if c.phase is Phase.IDLE]
        if not idle:
            return False
        self._close(min(idle, key=lambda c: c.idle_since))
        return True

    def _accept(self, listener: socket.socket) -> None:
        if self._siblings_have_fewer():
            # a sibling with fewer connections takes this one; if it is still waiting after the
            # pause (the sibling is busy or stopping), it is ours
            self._paused_until = time.monotonic() + ACCEPT_PAUSE_S
            self._listen(False)
            self._take_next = True
            return
        self._take_one(listener)

    def _take_waiting(self) -> None:
        """After a pause: the connections still waiting are this worker's (nobody else took them)."""
        self._take_next = False
        for listener in self.listeners:
            self._take_one(listener)

    def _take_one(self, listener: socket.socket) -> None:
        try:
            sock, peer = listener.accept()
        except BlockingIOError:
            return  # a sibling took it
        except OSError as error:
            if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                log.warning("cannot accept a connection (%s); accepting again in %.0f ms", error, FULL_PAUSE_S * 1e3)
                self._paused_until = time.monotonic() + FULL_PAUSE_S
                self._listen(False)
                return
            if error.errno in (errno.ECONNABORTED, errno.EPROTO):
                return
            raise
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if listener.fileno() in self._grpc_fds:
            connection = Http2Connection(sock, peer, self.limits, time.monotonic())
        else:
            connection = Connection(sock, peer, self.limits, time.monotonic())
        self.connections[connection.fd] = connection
        self._count()
        self.selector.register(sock, selectors.EVENT_READ, connection)
        if isinstance(connection, Http2Connection):
            with connection.lock:
                self._flush_session(connection)  # the server's SETTINGS go first

    def _siblings_have_fewer(self) -> bool:
        if self.table is None:
            return False
        fewest = self.table.fewest_elsewhere(self.slot)
        return fewest is not None and fewest < len(self.connections)

    def _count(self) -> None:
        if self.table is not None:
            self.table.set_connections(self.slot, len(self.connections))

    # --- gathering -----------------------------------------------------------------------------

    def _receive(self, connection: Connection | Http2Connection) -> bytes | None:
        """What the socket has (None: nothing yet, or the client is gone and the connection closed)."""
        try:
            data = connection.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            data = b""
        if not data:
            self._close(connection)
            return None
        return data

    def _read(self, connection: Connection) -> None:
        data = self._receive(connection)
        if data is None:
            return
        if connection.phase is Phase.CLOSING:
            connection.dropped += len(data)
            if connection.dropped > self.limits.linger_bytes:
                self._close(connection)
            return
        try:
            connection.received(data, time.monotonic())
        except Refusal as refusal:
            if not connection.reader.ready:
                self._refuse(connection, refusal)
                return
            # whole requests came before the bad bytes: they are answered, then the connection closes
            connection.reader.ready[-1].keep_alive = False
        if connection.reader.wants_continue:
            connection.reader.wants_continue = False
            _send_quietly(connection.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
        self._dispatch(connection)

    def _dispatch(self, connection: Connection) -> None:
        request = connection.next_request()
        if request is None:
            return
        connection.phase = Phase.BUSY
        self.selector.unregister(connection.sock)
        if self.inline.quick(_kind(request)) and request_slots.slots.try_acquire():
            self._run(connection, request)  # quick and a slot is free: no thread hand-off
        else:
            self.pool.submit(self._serve, connection, request)

    def _refuse(self, connection: Connection, refusal: Refusal) -> None:
        path = refusal.target.split(b"?", 1)[0].decode("latin-1", "replace")
        body, headers = self.render_refusal(refusal.status, refusal.message, refusal.method, path)
        answer = plain_answer(refusal.status, body, keep_alive=False, extra_headers=headers)
        rest = _send_quietly(connection.sock, answer)
        if rest is None:
            self._close(connection)
        elif rest:
            connection.writing(rest, close_after=True, now=time.monotonic())
            self.selector.modify(connection.sock, selectors.EVENT_WRITE, connection)
        else:
            self._linger(connection)

    def _linger(self, connection: Connection) -> None:
        try:
            connection.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(connection)
            return
        connection.closing(time.monotonic())

    # --- running (in a request thread) ---------------------------------------------------------

    def _serve(self, connection: Connection, request: Request) -> None:
        request_slots.slots.acquire()
        self._run(connection, request)

    def _run(self, connection: Connection, request: Request) -> None:
        """With a running slot held (in a request thread, or in the loop for a quick one)."""
        request.keep_alive = request.keep_alive and not self.stopping
        started = time.perf_counter()
        try:
            answered = self.bridge.respond(request, connection.peer, lambda *answer: self._deliver(connection, *answer))
        finally:
            request_slots.slots.release()  # the answer is made: sending it waits on the client, not the CPU
        self.inline.record(_kind(request), time.perf_counter() - started)
        if answered is not None:  # None: the app answers later, from another thread
            self._deliver(connection, *answered)

    def _deliver(self, connection: Connection, answer: bytes, keep_alive: bool) -> None:
        """From whichever thread made the answer: send what the socket takes, the loop does the rest."""
        rest = _send_quietly(connection.sock, answer)
        self._finished.append((connection, rest, keep_alive))
        if threading.get_ident() == self._loop_thread:
            return  # run in the loop: it finishes the answers at the end of this turn
        self._wake()

    def _wake(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            with contextlib.suppress(BlockingIOError):  # the loop has wake-ups waiting already
                os.write(self._wake_w, b"x")

    # --- answers back in the loop --------------------------------------------------------------

    def _drain_wake(self) -> None:
        _drain(self._wake_r)
        self._wake_pending = False

    def _finish_answers(self) -> None:
        while self._sessions_to_mind:
            connection = self._sessions_to_mind.popleft()
            with connection.lock:
                if connection.broken:
                    self._close(connection)
                else:
                    self._watch_session(connection)
        while self._finished:
            connection, rest, keep_alive = self._finished.popleft()
            self.answered += 1
            if rest is None:
                self._close(connection)
            elif rest:
                connection.writing(rest, close_after=not keep_alive, now=time.monotonic())
                self.selector.register(connection.sock, selectors.EVENT_WRITE, connection)
            elif not keep_alive:
                self._close(connection)
            else:
                self._next_or_wait(connection, registered=False)

    def _next_or_wait(self, connection: Connection, registered: bool) -> None:
        connection.settle(time.monotonic())
        if connection.reader.ready:  # pipelined: the next request is whole already
            if registered:
                self.selector.unregister(connection.sock)
            connection.phase = Phase.BUSY
            self.pool.submit(self._serve, connection, connection.next_request())
        elif registered:
            self.selector.modify(connection.sock, selectors.EVENT_READ, connection)
        else:
            self.selector.register(connection.sock, selectors.EVENT_READ, connection)

    def _write(self, connection: Connection) -> None:
        rest = _send_quietly(connection.sock, connection.pending)
        if rest is None:
            self._close(connection)
        elif rest:
            connection.pending = rest
        elif connection.close_after_write:
            connection.pending = b""
            self.selector.modify(connection.sock, selectors.EVENT_READ, connection)
            self._linger(connection)
        else:
            connection.pending = b""
            self._next_or_wait(connection, registered=True)

    # --- gRPC calls on HTTP/2 connections --------------------------------------------------------

    def _session_events(self, connection: Http2Connection, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self._write_session(connection)
        if events & selectors.EVENT_READ and not connection.closed:
            self._read_session(connection)

    def _read_session(self, connection: Http2Connection) -> None:
        data = self._receive(connection)
        if data is None:
            return
        connection.read(time.monotonic())
        with connection.lock:
            try:
                calls = connection.session.received(data)
            except ProtocolError as error:
                log.info("closing an HTTP/2 connection from %s: %s", connection.peer, error)
                self._flush_session(connection)  # the GOAWAY that says why
                self._close(connection)
                return
            self._flush_session(connection)  # what the frames read ask for: acknowledgements, windows
        for call in calls:
            self._dispatch_call(connection, call)
        self._watch_session(connection)

    def _dispatch_call(self, connection: Http2Connection, call: Call) -> None:
        if self.inline.quick(_call_kind(call)) and request_slots.slots.try_acquire():
            self._run_call(connection, call)
        else:
            with connection.lock:
                connection.running += 1
            self.pool.submit(self._serve_call, connection, call)

    def _serve_call(self, connection: Http2Connection, call: Call) -> None:
        with connection.lock:
            gone = connection.closed or connection.session.is_reset(call.stream_id)
        if gone:  # the client gave up while the call waited for a thread: it is not run
            self._answer_call(connection, call.stream_id, (b"", b"", b""), in_loop=False)
            return
        request_slots.slots.acquire()
        self._run_call(connection, call)

    def _run_call(self, connection: Http2Connection, call: Call) -> None:
        """With a running slot held, like _run; then the answer is framed and sent from this thread."""
        started = time.perf_counter()
        try:
            head, message, trailers = self.grpc_calls.answer(call)
        finally:
            request_slots.slots.release()
        self.inline.record(_call_kind(call), time.perf_counter() - started)
        in_loop = threading.get_ident() == self._loop_thread
        self._answer_call(connection, call.stream_id, (head, message, trailers), in_loop)

    def _answer_call(self, connection: Http2Connection, stream_id: int, answer: tuple, in_loop: bool) -> None:
        head, message, trailers = answer
        with connection.lock:
            self.answered += 1
            if not in_loop:
                connection.running -= 1
            if connection.closed:
                return
            if message:
                connection.session.answer(stream_id, head, message, trailers)
            else:
                connection.session.answer_trailers_only(stream_id, trailers)
            if self.stopping:
                connection.session.drain()
            self._flush_session(connection)

    def _flush_session(self, connection: Http2Connection) -> None:
        """Send what the session has framed (with the connection's lock held, from any thread);
        what the socket does not take waits for the loop to write it."""
        data = connection.session.take_outbox()
        if connection.pending:
            was = len(connection.pending)
            connection.pending += data
            if was <= MAX_PENDING_BYTES < len(connection.pending):
                self._mind(connection)  # past the cap: the loop stops reading it
            return  # the loop is waiting to write already
        if not data:
            return
        rest = _send_quietly(connection.sock, data)
        if rest == b"":
            connection.wrote(time.monotonic())
            return
        if rest is None:
            connection.broken = True
        else:
            connection.pending = rest
        self._mind(connection)

    def _mind(self, connection: Http2Connection) -> None:
        """A connection left with bytes to write, or broken: the loop sees to it."""
        if threading.get_ident() != self._loop_thread:
            self._sessions_to_mind.append(connection)
            self._wake()
        elif connection.broken:
            self._close(connection)
        else:
            self._watch_session(connection)

    def _watch_session(self, connection: Http2Connection) -> None:
        """Write while bytes wait; read unless so many wait that the client is not taking them
        (a flood of pings, say, or answers it never reads): then it is read again once it has."""
        if connection.closed:
            return
        events = selectors.EVENT_WRITE if connection.pending else 0
        if len(connection.pending) <= MAX_PENDING_BYTES:
            events |= selectors.EVENT_READ
        if connection.events != events:
            connection.events = events
            self.selector.modify(connection.sock, events, connection)

    def _write_session(self, connection: Http2Connection) -> None:
        with connection.lock:
            rest = _send_quietly(connection.sock, connection.pending)
            if rest is None:
                self._close(connection)
                return
            connection.pending = rest
            connection.wrote(time.monotonic())
            self._watch_session(connection)

    # --- deadlines -----------------------------------------------------------------------------

    def _sweep(self, now: float) -> None:
        for connection in [c for c in self.connections.values() if c.deadline <= now]:
            if connection.gathering():
                if connection.phase is Phase.HEADERS:
                    what, limit, setting = "headers", self.limits.header_timeout, "LAYERSERVE_HEADER_TIMEOUT"
                else:
                    what, limit, setting = "body", self.limits.body_timeout, "LAYERSERVE_BODY_TIMEOUT"
                refusal = Refusal(408, f"the request's {what} did not arrive within {limit:g} s ({setting})")
                self._refuse(connection, refusal)
            elif connection.phase is not Phase.BUSY:
                self._close(connection)

    def _close(self, connection: Connection | Http2Connection) -> None:
        if self.connections.get(connection.fd) is not connection:
            connection.closed = True
            return  # closed already (its descriptor may be another connection's by now)
        if isinstance(connection, Http2Connection):
            with connection.lock:
                if not connection.session.closed and not connection.pending and not connection.broken:
                    connection.session.go_away()  # the client learns which of its calls were taken
                    _send_quietly(connection.sock, connection.session.take_outbox())
                connection.closed = True  # a request thread with an answer sends nothing more
        connection.closed = True
        if connection.phase is not Phase.BUSY:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(connection.sock)
        self.connections.pop(connection.fd, None)
        with contextlib.suppress(OSError):
            connection.sock.close()
        self._count()


def _kind(request: Request) -> tuple:
    """What a request's time is predicted from: its method, its target, its body size's magnitude."""
    return request.method, request.target, len(request.body).bit_length()


def _call_kind(call: Call) -> tuple:
    return "gRPC", call.headers.get(b":path"), len(call.body).bit_length()


def _send_quietly(sock: socket.socket, data: bytes) -> bytes | None:
    """Send what the socket takes now: the rest (b"" when all went), None when the client is gone."""
    try:
        sent = sock.send(data)
    except (BlockingIOError, InterruptedError):
        return data
    except OSError:
        return None
    return data[sent:] if sent < len(data) else b""


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass
