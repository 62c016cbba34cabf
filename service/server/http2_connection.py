"""One HTTP/2 connection (gRPC) as the event loop sees it: many calls at once on one socket, so
it stays registered for reading while its calls run, and its phase says what it waits for."""

import selectors
import socket
import threading

from ..grpc_api.http2 import Session
from .connection import IntakeLimits, Phase

MAX_STREAMS = 128  # calls at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS)
IDLE_S = 300.0  # a connection without calls is closed (GOAWAY first) after this long


class Http2Connection:
    def __init__(self, sock: socket.socket, peer, limits: IntakeLimits, now: float):
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.limits = limits
        self.session = Session(
            max_streams=MAX_STREAMS,
            max_body_bytes=limits.max_body_bytes + 5,  # gRPC's length prefix comes on top of the message
            max_header_bytes=limits.max_header_bytes,
        )
        # The loop and the request threads with answers share the session: each holds this lock
        # while it touches the session, `pending` or `running`, and while it sends (sends do not
        # block), so the frames of one stream leave in order.
        self.lock = threading.RLock()
        self.pending = b""  # bytes the socket did not take yet
        self.running = 0  # calls handed to a request thread, their answers not sent yet
        self.closed = False
        self.broken = False  # a send failed: the loop closes the connection
        self.events = selectors.EVENT_READ  # what the loop's selector watches it for
        self.idle_since = now  # when the connection last moved with no call open
        self.sent = now  # when bytes last left

    @property
    def phase(self) -> Phase:
        if self.running or self.pending:
            return Phase.WRITING
        if self.session.arriving:
            return Phase.BODY
        return Phase.IDLE if not self.session.open_streams else Phase.WRITING

    @property
    def deadline(self) -> float:
        phase = self.phase
        if phase is Phase.IDLE:
            return self.idle_since + IDLE_S
        if phase is Phase.BODY:  # from the oldest request still arriving, whatever else moves
            since = self.session.arriving_since()
            return (self.sent if since is None else since) + self.limits.body_timeout
        if self.running:
            return float("inf")  # the calls' own time limit applies (LAYERSERVE_INFER_TIMEOUT)
        return self.sent + self.limits.body_timeout  # answers the client does not take

    def gathering(self) -> bool:
        return False  # a call is never refused mid-request with 408: a connection too slow is closed

    def read(self, now: float) -> None:
        if not self.session.open_streams and not self.running:
            self.idle_since = now

    def wrote(self, now: float) -> None:
        self.sent = now
        if not self.session.open_streams and not self.running:
            self.idle_since = now
