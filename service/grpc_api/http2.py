"""HTTP/2 as a server for unary calls (what gRPC's unary RPCs are): frames in, whole calls out,
answers framed back. Cleartext with prior knowledge (h2c), as gRPC clients speak it.

A session is one connection's state and does no I/O: `received(data)` takes what the socket
read and returns the calls whose request ended; the bytes to send collect in `outbox`. Header
blocks are decoded with hpack (RFC 7541); the answers' blocks are literal fields that never
enter a table, so encoding needs no state.

Bounds per connection: at most `max_streams` calls at once, counting those running and those
reset by the client while they ran; each body at most `max_body_bytes` (a longer one ends at
once, marked `too_large`, and the rest of it is dropped); the bodies still arriving at most
`max_body_bytes` together (past it the newest is refused, REFUSED_STREAM, which a client may
retry); windows enforced both ways (a client past the window it was given is a
FLOW_CONTROL_ERROR).
"""

import struct
import time
from dataclasses import dataclass, field

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, REFUSED_STREAM = 0x0, 0x1, 0x3, 0x6, 0x7
COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x9, 0xB
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE = 1, 3, 4
SETTINGS_MAX_FRAME_SIZE, SETTINGS_MAX_HEADER_LIST_SIZE = 5, 6
KNOWN_BLOCKS = 64  # decoded header blocks remembered per connection, each of at most KNOWN_BLOCK_BYTES
KNOWN_BLOCK_BYTES = 1024
STREAM_WINDOW = 1 << 20  # what a client may send on a stream before it hears from us
CONNECTION_WINDOW = 16 << 20  # the same for the whole connection
DEFAULT_WINDOW = 65_535
DEFAULT_TABLE_SIZE = 4_096
DEFAULT_FRAME_SIZE = 16_384
RECEIVED_FRAME_SIZE = 1 << 20  # frames a client may send: a large message in fewer of them
MAX_WINDOW = 2**31 - 1
_FRAME_HEAD = struct.Struct(">I B I")  # length (24 bits) and type share the first word


class ProtocolError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class Call:
    stream_id: int
    headers: dict  # raw bytes → bytes, pseudo-headers (":path") included
    body: bytearray = field(default_factory=bytearray)
    too_large: bool = False  # the body went past max_body_bytes: the call ended there, the rest is dropped
    started: float = field(default_factory=time.monotonic)
    window: int = 0  # what the client may still send on this stream
    unacknowledged: int = 0  # received, not yet given back to the stream's window


@dataclass
class _Sending:
    stream_id: int
    pending: bytes | memoryview  # DATA payload still to go
    trailers: bytes  # the trailers' header block, sent after the last DATA frame


class Session:
    def __init__(self, *, max_streams: int, max_body_bytes: int, max_header_bytes: int):
        self.max_streams = max_streams
        self.max_body = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.outbox = bytearray()
        self.closed = False  # the last GOAWAY sent, or the client's received: no new streams
        self.draining = False  # a GOAWAY sent or received: see drain()
        self._buffer = b""
        self._preface_seen = False
        self._decoder = hpack.Decoder()
        self._decoder.max_header_list_size = max_header_bytes
        self._known_blocks: dict[bytes, dict] = {}  # decoded blocks that left the table as it was
        self._calls: dict[int, Call] = {}  # streams whose request is still arriving
        self._arriving_bytes = 0  # the bodies in _calls, together
        self._running: set[int] = set()  # requests ended, their answers not given yet
        self._reset: set[int] = set()  # running ones the client reset: their answers go nowhere
        self._unfinished: set[int] = set()  # running ones the client had not ended (too large)
        self._partial_since: float | None = None  # a frame cut short in _buffer since then
        self._last_stream = 0
        self._headers_block: tuple[int, int, bytearray] | None = None  # stream, flags, block so far
        self._send_window = DEFAULT_WINDOW
        self._stream_windows: dict[int, int] = {}
        self._peer_initial_window = DEFAULT_WINDOW
        self._peer_frame_size = DEFAULT_FRAME_SIZE
        self._waiting: list[_Sending] = []  # answers held back by flow control
        self._table_size_update = b""  # owed at the start of our next header block (RFC 7541 4.2)
        # receiving: the connection's window is given back as data arrives, a stream's as its
        # body grows; what bounds memory is the body limits above
        self._receive_window = CONNECTION_WINDOW
        self._received_unacknowledged = 0
        settings = {SETTINGS_MAX_CONCURRENT_STREAMS: max_streams, SETTINGS_INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                    SETTINGS_MAX_HEADER_LIST_SIZE: max_header_bytes,
                    SETTINGS_MAX_FRAME_SIZE: RECEIVED_FRAME_SIZE}  # fmt: skip
        payload = b"".join(struct.pack(">HI", key, value) for key, value in settings.items())
        self._frame(SETTINGS, 0, 0, payload)
        self._frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", CONNECTION_WINDOW - DEFAULT_WINDOW))

    # --- reading ---------------------------------------------------------------------------------

    def received(self, data: bytes) -> list[Call]:
        """The calls whose request ended in these bytes. Raises ProtocolError (a GOAWAY is in the outbox)."""
        buffer = self._buffer + data if self._buffer else data
        offset = 0
        if not self._preface_seen:
            if len(buffer) < len(PREFACE):
                if not PREFACE.startswith(buffer):
                    self._fail(PROTOCOL_ERROR, "not an HTTP/2 connection preface")
                self._buffer = buffer
                self._partial_since = self._partial_since or time.monotonic()
                return []
            if not buffer.startswith(PREFACE):
                self._fail(PROTOCOL_ERROR, "not an HTTP/2 connection preface")
            self._preface_seen = True
            offset = len(PREFACE)
        ended: list[Call] = []
        size = len(buffer)
        while size - offset >= 9:
            word, flags, stream_id = _FRAME_HEAD.unpack_from(buffer, offset)
            length, kind = word >> 8, word & 0xFF
            if length > RECEIVED_FRAME_SIZE:
                self._fail(FRAME_SIZE_ERROR, f"a frame of {length} bytes")
            if size - offset - 9 < length:
                break
            start = offset + 9
            offset = start + length
            self._frame_in(kind, flags, stream_id & MAX_WINDOW, memoryview(buffer)[start:offset], ended)
        self._buffer = bytes(buffer[offset:]) if offset < size else b""
        if not self._buffer:
            self._partial_since = None
        elif self._partial_since is None:
            self._partial_since = time.monotonic()
        if self._received_unacknowledged >= CONNECTION_WINDOW // 2:
            self._frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self._received_unacknowledged))
            self._receive_window += self._received_unacknowledged
            self._received_unacknowledged = 0
        return ended

    def _frame_in(self, kind: int, flags: int, stream_id: int, payload: memoryview, ended: list[Call]) -> None:
        if self._headers_block is not None and kind != CONTINUATION:
            self._fail(PROTOCOL_ERROR, "a header block was interrupted")
        if kind == DATA:
            self._data(flags, stream_id, payload, ended)
        elif kind == HEADERS:
            self._headers(flags, stream_id, payload, ended)
        elif kind == CONTINUATION:
            self._continuation(flags, stream_id, payload, ended)
        elif kind == SETTINGS:
            self._settings(flags, stream_id, payload)
        elif kind == WINDOW_UPDATE:
            self._window_update(stream_id, payload)
        elif kind == PING:
            if len(payload) != 8 or stream_id:
                self._fail(FRAME_SIZE_ERROR, "a PING frame of the wrong size")
            if not flags & ACK:
                self._frame(PING, ACK, 0, payload)
        elif kind == RST_STREAM:
            if len(payload) != 4 or not stream_id:
                self._fail(FRAME_SIZE_ERROR if stream_id else PROTOCOL_ERROR, "a malformed RST_STREAM")
            self._drop(stream_id)
        elif kind == GOAWAY:
            self.closed = self.draining = True
        elif kind == PUSH_PROMISE:
            self._fail(PROTOCOL_ERROR, "a client may not push")
        # PRIORITY and unknown frame types are ignored, as the protocol asks

    def _headers(self, flags: int, stream_id: int, payload: memoryview, ended: list[Call]) -> None:
        if stream_id == 0 or stream_id % 2 == 0:
            self._fail(PROTOCOL_ERROR, "HEADERS on a stream a client cannot open")
        payload = self._unpad(flags, payload)
        if flags & PRIORITY_FLAG:
            payload = payload[5:]
        if len(payload) > self.max_header_bytes:
            self._fail(ENHANCE_YOUR_CALM, "a header block past the limit")
        self._headers_block = (stream_id, flags, bytearray(payload))
        if flags & END_HEADERS:
            self._header_block_done(ended)

    def _continuation(self, flags: int, stream_id: int, payload: memoryview, ended: list[Call]) -> None:
        if self._headers_block is None or self._headers_block[0] != stream_id:
            self._fail(PROTOCOL_ERROR, "CONTINUATION without its HEADERS")
        block = self._headers_block[2]
        block += payload
        if len(block) > self.max_header_bytes:
            self._fail(ENHANCE_YOUR_CALM, "a header block past the limit")
        if flags & END_HEADERS:
            self._header_block_done(ended)

    def _header_block_done(self, ended: list[Call]) -> None:
        stream_id, flags, block = self._headers_block
        self._headers_block = None
        headers = self._decode(bytes(block))
        call = self._calls.get(stream_id)
        if call is not None:  # trailers of a request: they end it
            if not flags & END_STREAM:
                self._fail(PROTOCOL_ERROR, "trailers that do not end the stream")
            self._end(call, ended)
            return
        if stream_id <= self._last_stream:
            self._fail(PROTOCOL_ERROR, "a stream id that is not new")
        self._last_stream = stream_id
        if self.closed or self.open_streams >= self.max_streams:
            self._frame(RST_STREAM, 0, stream_id, struct.pack(">I", REFUSED_STREAM))
            return
        call = Call(stream_id, headers, window=STREAM_WINDOW)
        self._calls[stream_id] = call
        self._stream_windows[stream_id] = self._peer_initial_window
        if flags & END_STREAM:
            self._end(call, ended)

    def _decode(self, block: bytes) -> dict:
        """A header block as a dict (shared by the calls with the same block: read it only).

        A client repeating its headers sends the same block again: indexes into the table its
        earlier blocks built, and literals it chose not to index. Such a block leaves the table
        as it is, so its decoding holds until a block that changes the table; until then it is
        remembered instead of decoded again (hpack's decoder costs ~20 µs a call here, more
        than a small model's forward pass)."""
        decoded = self._known_blocks.get(block)
        if decoded is not None:
            return decoded
        try:
            decoded = dict(self._decoder.decode(block, raw=True))
            keeps_table = _keeps_table(block)
        except Exception as error:  # noqa: BLE001 (hpack's errors share no base worth naming)
            self._fail(COMPRESSION_ERROR, f"a header block that does not decode ({error})")
        if not keeps_table or len(self._known_blocks) >= KNOWN_BLOCKS:
            self._known_blocks.clear()
        if keeps_table and len(block) <= KNOWN_BLOCK_BYTES:
            self._known_blocks[block] = decoded
        return decoded

    def _data(self, flags: int, stream_id: int, payload: memoryview, ended: list[Call]) -> None:
        size = len(payload)
        if stream_id == 0 or stream_id > self._last_stream:
            self._fail(PROTOCOL_ERROR, "DATA on a stream that was never opened")
        if size > self._receive_window:
            self._fail(FLOW_CONTROL_ERROR, "DATA past the connection's window")
        self._receive_window -= size
        self._received_unacknowledged += size
        call = self._calls.get(stream_id)
        if call is None:
            return  # a stream ended, refused or reset already: its data is dropped
        if size > call.window:
            self._fail(FLOW_CONTROL_ERROR, f"DATA past the window of stream {stream_id}")
        call.window -= size
        data = self._unpad(flags, payload)
        if len(call.body) + len(data) > self.max_body:
            call.too_large = True  # answered now; what the client still sends is dropped
            if not flags & END_STREAM:
                self._unfinished.add(stream_id)
            self._arriving_bytes -= len(call.body)
            call.body = bytearray()
            self._end(call, ended)
            return
        call.body += data
        self._arriving_bytes += len(data)
        if flags & END_STREAM:
            self._end(call, ended)
            return
        call.unacknowledged += size
        if call.unacknowledged >= STREAM_WINDOW // 2:
            self._frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", call.unacknowledged))
            call.window += call.unacknowledged
            call.unacknowledged = 0
        if self._arriving_bytes > self.max_body:  # bodies arriving side by side: the newest waits
            newest = max(self._calls)
            self._frame(RST_STREAM, 0, newest, struct.pack(">I", REFUSED_STREAM))
            self._drop(newest)

    def _end(self, call: Call, ended: list[Call]) -> None:
        del self._calls[call.stream_id]
        self._arriving_bytes -= len(call.body)
        self._running.add(call.stream_id)
        ended.append(call)

    def _settings(self, flags: int, stream_id: int, payload: memoryview) -> None:
        if stream_id:
            self._fail(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if payload:
                self._fail(FRAME_SIZE_ERROR, "a SETTINGS acknowledgement with a payload")
            return
        if len(payload) % 6:
            self._fail(FRAME_SIZE_ERROR, "SETTINGS of a length not a multiple of 6")
        opened = False
        for offset in range(0, len(payload), 6):
            key, value = struct.unpack_from(">HI", payload, offset)
            if key == SETTINGS_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    self._fail(FLOW_CONTROL_ERROR, "an initial window past 2^31 - 1")
                change = value - self._peer_initial_window
                self._peer_initial_window = value
                for sid in self._stream_windows:
                    self._stream_windows[sid] += change
                    if self._stream_windows[sid] > MAX_WINDOW:
                        self._fail(FLOW_CONTROL_ERROR, "a stream window past 2^31 - 1")
                opened = opened or change > 0
            elif key == SETTINGS_MAX_FRAME_SIZE:
                if not DEFAULT_FRAME_SIZE <= value <= 2**24 - 1:
                    self._fail(PROTOCOL_ERROR, "a max frame size out of range")
                self._peer_frame_size = value
            elif key == SETTINGS_HEADER_TABLE_SIZE and value < DEFAULT_TABLE_SIZE:
                # our blocks never use the table, but a decoder that shrinks it is owed the news
                self._table_size_update = bytes([0x20]) if value == 0 else _size_update(value)
        self._frame(SETTINGS, ACK, 0, b"")
        if opened:
            self._flush_waiting()

    def _window_update(self, stream_id: int, payload: memoryview) -> None:
        if len(payload) != 4:
            self._fail(FRAME_SIZE_ERROR, "a WINDOW_UPDATE of the wrong size")
        increment = struct.unpack(">I", payload)[0] & MAX_WINDOW
        if not increment:
            self._fail(PROTOCOL_ERROR, "a WINDOW_UPDATE of 0")
        if stream_id == 0:
            self._send_window += increment
            if self._send_window > MAX_WINDOW:
                self._fail(FLOW_CONTROL_ERROR, "a connection window past 2^31 - 1")
            self._flush_waiting()
        elif stream_id in self._stream_windows:
            self._stream_windows[stream_id] += increment
            if self._stream_windows[stream_id] > MAX_WINDOW:
                self._fail(FLOW_CONTROL_ERROR, f"a window past 2^31 - 1 on stream {stream_id}")
            self._flush_waiting(stream_id)

    # --- answering -------------------------------------------------------------------------------

    def answer(self, stream_id: int, head: bytes, message: bytes, trailers: bytes) -> None:
        """Frame an answer: `head` and `trailers` are HPACK header blocks (never indexed), `message`
        the DATA payload (gRPC-framed). What flow control holds back goes when the peer opens its window."""
        if not self._answering(stream_id):
            return
        self._frame(HEADERS, END_HEADERS, stream_id, self._block(head))
        if not message:
            self._frame(HEADERS, END_HEADERS | END_STREAM, stream_id, self._block(trailers))
            self._forget(stream_id)
        elif not self._waiting and len(message) <= min(
            self._send_window, self._stream_windows[stream_id], self._peer_frame_size
        ):  # the usual answer: one DATA frame, then the trailers
            self._frame(DATA, 0, stream_id, message)
            self._send_window -= len(message)
            self._frame(HEADERS, END_HEADERS | END_STREAM, stream_id, self._block(trailers))
            self._forget(stream_id)
        else:
            self._waiting.append(_Sending(stream_id, message, trailers))
            self._flush_waiting(stream_id)

    def answer_trailers_only(self, stream_id: int, block: bytes) -> None:
        if self._answering(stream_id):
            self._frame(HEADERS, END_HEADERS | END_STREAM, stream_id, self._block(block))
            self._forget(stream_id)

    def is_reset(self, stream_id: int) -> bool:
        """Whether the client gave up on this call (its answer would go nowhere)."""
        return stream_id in self._reset

    def _answering(self, stream_id: int) -> bool:
        """Whether this call's answer goes out; either way it no longer counts as running."""
        self._running.discard(stream_id)
        if stream_id in self._reset:
            self._reset.discard(stream_id)
            self._stream_windows.pop(stream_id, None)
            return False
        return stream_id in self._stream_windows

    def _block(self, block: bytes) -> bytes:
        if self._table_size_update:
            block, self._table_size_update = self._table_size_update + block, b""
        return block

    @property
    def open_streams(self) -> int:
        """Calls arriving, running (reset ones included) or with an answer held by flow control."""
        return len(self._calls) + len(self._running) + len(self._waiting)

    @property
    def arriving(self) -> bool:
        """Whether a request is part way in: a stream without its end, or a frame cut short."""
        return bool(self._calls) or bool(self._buffer) or self._headers_block is not None

    def arriving_since(self) -> float | None:
        """Since when the oldest request still arriving has been (None: none is)."""
        times = [call.started for call in self._calls.values()]
        if self._partial_since is not None:
            times.append(self._partial_since)
        return min(times, default=None)

    def drain(self) -> None:
        """The first GOAWAY of a graceful stop (RFC 9113 6.8): no new streams, but the ones the
        client sent before it reads this are still taken; go_away() later names the last one."""
        if not self.draining and not self.closed:
            self.draining = True
            self._frame(GOAWAY, 0, 0, struct.pack(">II", MAX_WINDOW, NO_ERROR))

    def go_away(self, code: int = NO_ERROR, message: str = "") -> None:
        if not self.closed:
            self.closed = True
            self._frame(GOAWAY, 0, 0, struct.pack(">II", self._last_stream, code) + message.encode()[:256])

    def take_outbox(self) -> bytearray:
        data, self.outbox = self.outbox, bytearray()
        return data

    def _flush_waiting(self, only_stream: int | None = None) -> None:
        still = []
        for sending in self._waiting:
            if only_stream is not None and sending.stream_id != only_stream:
                still.append(sending)
                continue
            stream_window = self._stream_windows.get(sending.stream_id)
            if stream_window is None:
                continue  # reset meanwhile
            pending = memoryview(sending.pending)
            while pending:
                room = min(self._send_window, stream_window, self._peer_frame_size)
                if room <= 0:
                    break
                chunk, pending = pending[:room], pending[room:]  # views: the message is copied once, into the outbox
                self._frame(DATA, 0, sending.stream_id, chunk)
                self._send_window -= len(chunk)
                stream_window -= len(chunk)
            self._stream_windows[sending.stream_id] = stream_window
            if pending:
                sending.pending = pending
                still.append(sending)
            else:
                self._frame(HEADERS, END_HEADERS | END_STREAM, sending.stream_id, self._block(sending.trailers))
                self._forget(sending.stream_id)
        self._waiting = still

    def _drop(self, stream_id: int) -> None:
        """A stream reset: a request arriving is forgotten; a running one stays counted until it
        is answered, into nothing (so resets cannot start calls past max_streams)."""
        call = self._calls.pop(stream_id, None)
        if call is not None:
            self._arriving_bytes -= len(call.body)
        if stream_id in self._running:
            self._reset.add(stream_id)
            return
        self._waiting = [sending for sending in self._waiting if sending.stream_id != stream_id]
        self._forget(stream_id)

    def _forget(self, stream_id: int) -> None:
        self._stream_windows.pop(stream_id, None)
        if stream_id in self._unfinished:  # answered before its request ended: the client may stop sending
            self._unfinished.discard(stream_id)
            self._frame(RST_STREAM, 0, stream_id, struct.pack(">I", NO_ERROR))

    def _frame(self, kind: int, flags: int, stream_id: int, payload) -> None:
        self.outbox += _FRAME_HEAD.pack(len(payload) << 8 | kind, flags, stream_id)
        self.outbox += payload

    def _unpad(self, flags: int, payload: memoryview) -> memoryview:
        if not flags & PADDED:
            return payload
        if not payload or payload[0] >= len(payload):
            self._fail(PROTOCOL_ERROR, "padding as long as the frame")
        return payload[1 : len(payload) - payload[0]]

    def _fail(self, code: int, message: str):
        self.go_away(code, message)
        raise ProtocolError(code, message)


def _keeps_table(block: bytes) -> bool:
    """Whether a header block (already decoded without error) leaves the decoder's table as it
    was: indexed fields and literals not indexed only, no table size update (RFC 7541 6)."""
    offset, size = 0, len(block)
    while offset < size:
        first = block[offset]
        if first & 0x80:  # indexed field
            _, offset = _read_integer(block, offset, 7)
        elif first & 0xE0:  # 01xxxxxx literal with incremental indexing, 001xxxxx size update
            return False
        else:  # 0000xxxx without indexing, 0001xxxx never indexed: a name index or a name, a value
            name_index, offset = _read_integer(block, offset, 4)
            if not name_index:
                offset = _skip_string(block, offset)
            offset = _skip_string(block, offset)
    return True


def _size_update(size: int) -> bytes:
    """A dynamic table size update (RFC 7541 6.3): 001 and the size, 5-bit prefix."""
    encoded = bytearray(_integer(size, 5))
    encoded[0] |= 0x20
    return bytes(encoded)


def _read_integer(block: bytes, offset: int, prefix_bits: int) -> tuple[int, int]:
    limit = (1 << prefix_bits) - 1
    value = block[offset] & limit
    offset += 1
    if value < limit:
        return value, offset
    shift = 0
    while True:
        byte = block[offset]
        offset += 1
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset


def _skip_string(block: bytes, offset: int) -> int:
    length, offset = _read_integer(block, offset, 7)
    return offset + length


# --- header blocks of the answers (HPACK, literal fields that never enter a table) ----------------


def literal(name: bytes, value: bytes) -> bytes:
    """One header field as a literal without indexing, its name new (RFC 7541 6.2.2), no Huffman."""
    return b"\x00" + _string(name) + _string(value)


def _string(data: bytes) -> bytes:
    return _integer(len(data), 7) + data


def _integer(value: int, prefix_bits: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([value])
    out = bytearray([limit])
    value -= limit
    while value >= 128:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def status(code: int) -> bytes:
    """:status as a literal whose name is the static table's entry 8."""
    return b"\x08" + _string(str(code).encode())


STATUS_200 = b"\x88"  # :status 200 is the static table's entry 8 as a whole
