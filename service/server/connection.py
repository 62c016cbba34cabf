"""One client connection as the event loop sees it: where it is in its request, and until when
it may stay there."""

import enum
import socket
from dataclasses import dataclass

from .intake import Request, RequestReader


@dataclass(frozen=True)
class IntakeLimits:
    """How long and how much a client may take; every one is a setting (service/config.py)."""

    header_timeout: float = 10.0  # from a request's first byte to its last header
    body_timeout: float = 30.0  # from the last header to the body's last byte; also to take an answer
    keepalive: float = 5.0  # an idle connection between requests
    max_header_bytes: int = 64 * 1024
    max_body_bytes: int = 64 * 1024 * 1024
    max_connections: int = 1000  # per worker; past it the longest idle connection makes room
    linger_bytes: int = 128 * 1024 * 1024  # read and dropped after a refusal, so the client sees it
    linger_s: float = 2.0


class Phase(enum.Enum):
    IDLE = "idle"  # no byte of the next request yet
    HEADERS = "headers"  # gathering headers
    BODY = "body"  # gathering the body
    BUSY = "busy"  # a thread runs the request; the loop leaves the connection alone
    WRITING = "writing"  # the answer did not fit the socket buffer; the loop writes the rest
    CLOSING = "closing"  # refused and answered; reading and dropping what the client still sends


class Connection:
    def __init__(self, sock: socket.socket, peer, limits: IntakeLimits, now: float):
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.limits = limits
        self.reader = RequestReader(max_header_bytes=limits.max_header_bytes, max_body_bytes=limits.max_body_bytes)
        self.phase = Phase.IDLE
        self.deadline = now + limits.header_timeout  # a new connection's first request
        self.idle_since = now
        self.pending = b""  # answer bytes the loop still has to write
        self.close_after_write = False
        self.dropped = 0  # bytes read and dropped while closing
        self.closed = False

    def received(self, data: bytes, now: float) -> None:
        """Feed what arrived and move the deadline with the request's progress (may raise Refusal)."""
        was = self.phase
        self.reader.feed(data)
        if self.reader.ready:
            return
        if self.reader.in_body:
            if was is not Phase.BODY:
                self.phase, self.deadline = Phase.BODY, now + self.limits.body_timeout
        elif self.reader.started and was is not Phase.HEADERS:
            self.phase, self.deadline = Phase.HEADERS, now + self.limits.header_timeout

    def next_request(self) -> Request | None:
        return self.reader.ready.popleft() if self.reader.ready else None

    def settle(self, now: float) -> None:
        """After an answer: wait for the next request (the part of it already read keeps its clock)."""
        if self.reader.in_body:
            self.phase, self.deadline = Phase.BODY, now + self.limits.body_timeout
        elif self.reader.started:
            self.phase, self.deadline = Phase.HEADERS, now + self.limits.header_timeout
        else:
            self.phase, self.deadline = Phase.IDLE, now + self.limits.keepalive
            self.idle_since = now

    def writing(self, rest: bytes, close_after: bool, now: float) -> None:
        self.pending, self.close_after_write = rest, close_after
        self.phase, self.deadline = Phase.WRITING, now + self.limits.body_timeout

    def closing(self, now: float) -> None:
        self.phase, self.deadline = Phase.CLOSING, now + self.limits.linger_s

    def gathering(self) -> bool:
        return self.phase in (Phase.HEADERS, Phase.BODY)
