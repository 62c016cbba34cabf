"""The HTTP/2 session under gRPC, driven by frames a client would send (header blocks made with
hpack's encoder) and read back frame by frame."""

import struct

import hpack
import pytest

from service.grpc_api import http2

REQUEST_HEADERS = [
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/inference.GRPCInferenceService/ModelInfer"),
    (":authority", "localhost"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
]


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I B I", len(payload) << 8 | kind, flags, stream_id) + payload


def frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    out, offset = [], 0
    while offset < len(data):
        word, flags, stream_id = struct.unpack_from(">I B I", data, offset)
        length = word >> 8
        out.append((word & 0xFF, flags, stream_id, data[offset + 9 : offset + 9 + length]))
        offset += 9 + length
    assert offset == len(data)
    return out


class Client:
    def __init__(self, session: http2.Session | None = None, settings: bytes = b""):
        self.session = session or http2.Session(max_streams=4, max_body_bytes=1000, max_header_bytes=4096)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.calls = self.send(http2.PREFACE + frame(http2.SETTINGS, 0, 0, settings))

    def send(self, data: bytes) -> list[http2.Call]:
        return self.session.received(data)

    def request(self, stream_id: int, body: bytes, headers=REQUEST_HEADERS) -> bytes:
        block = self.encoder.encode(headers)
        return frame(http2.HEADERS, http2.END_HEADERS, stream_id, block) + frame(
            http2.DATA, http2.END_STREAM, stream_id, body
        )

    def read(self) -> list[tuple[int, int, int, bytes]]:
        return frames(self.session.take_outbox())


def test_the_server_speaks_first_with_its_settings_and_acknowledges_the_clients():
    client = Client()
    sent = client.read()
    settings = dict(struct.unpack_from(">HI", sent[0][3], offset) for offset in range(0, len(sent[0][3]), 6))
    assert sent[0][0] == http2.SETTINGS
    assert settings[http2.SETTINGS_MAX_CONCURRENT_STREAMS] == 4
    assert settings[http2.SETTINGS_INITIAL_WINDOW_SIZE] == http2.STREAM_WINDOW
    assert sent[1][0] == http2.WINDOW_UPDATE and sent[1][2] == 0
    assert (sent[2][0], sent[2][1]) == (http2.SETTINGS, http2.ACK)


@pytest.mark.parametrize("step", [1, 7, 1000])
def test_a_call_is_whole_at_its_last_byte_however_the_bytes_come(step):
    client = Client()
    wire = client.request(1, b"\x00\x00\x00\x00\x03abc")
    calls = []
    for offset in range(0, len(wire), step):
        calls += client.send(wire[offset : offset + step])
    (call,) = calls
    assert call.stream_id == 1 and bytes(call.body) == b"\x00\x00\x00\x00\x03abc"
    assert call.headers[b":path"] == b"/inference.GRPCInferenceService/ModelInfer"


def test_continuation_padding_and_priority_are_read():
    client = Client()
    block = client.encoder.encode(REQUEST_HEADERS)
    padded_headers = bytes([2]) + b"\x00\x00\x00\x00\x10" + block[:5] + b"\x00\x00"  # pad length, priority
    wire = frame(http2.HEADERS, http2.PADDED | http2.PRIORITY_FLAG, 3, padded_headers)
    wire += frame(http2.CONTINUATION, http2.END_HEADERS, 3, block[5:])
    wire += frame(http2.DATA, http2.PADDED | http2.END_STREAM, 3, bytes([4]) + b"body" + b"\x00" * 4)
    (call,) = client.send(wire)
    assert bytes(call.body) == b"body" and call.headers[b"te"] == b"trailers"


def test_a_ping_is_answered_with_its_payload():
    client = Client()
    client.read()
    client.send(frame(http2.PING, 0, 0, b"12345678"))
    assert client.read() == [(http2.PING, http2.ACK, 0, b"12345678")]


def test_a_body_past_the_limit_ends_the_call_at_once_and_the_answer_stops_the_upload():
    client = Client()
    client.send(frame(http2.HEADERS, http2.END_HEADERS, 1, client.encoder.encode(REQUEST_HEADERS)))
    (call,) = client.send(frame(http2.DATA, 0, 1, b"x" * 1001))  # not the end of the stream
    assert call.too_large and not call.body
    assert client.send(frame(http2.DATA, http2.END_STREAM, 1, b"the rest")) == []  # dropped
    client.read()
    client.session.answer_trailers_only(1, http2.literal(b"grpc-status", b"8"))
    assert [(kind, payload) for kind, _, _, payload in client.read()][-1] == (
        http2.RST_STREAM,
        struct.pack(">I", http2.NO_ERROR),
    )


def test_windows_are_given_back_as_bodies_grow():
    client = Client(http2.Session(max_streams=4, max_body_bytes=1 << 30, max_header_bytes=4096))
    client.send(frame(http2.HEADERS, http2.END_HEADERS, 1, client.encoder.encode(REQUEST_HEADERS)))
    client.read()
    chunk = b"x" * http2.RECEIVED_FRAME_SIZE
    for _ in range(3 * http2.STREAM_WINDOW // len(chunk)):  # three windows' worth on one stream
        client.send(frame(http2.DATA, 0, 1, chunk))
    updates = [(stream_id, payload) for kind, _, stream_id, payload in client.read() if kind == http2.WINDOW_UPDATE]
    given = sum(struct.unpack(">I", payload)[0] for stream_id, payload in updates if stream_id == 1)
    assert given >= 2 * http2.STREAM_WINDOW


def test_bodies_arriving_side_by_side_past_the_limit_refuse_the_newest():
    client = Client()  # max_body_bytes=1000
    for stream_id in (1, 3):
        client.send(frame(http2.HEADERS, http2.END_HEADERS, stream_id, client.encoder.encode(REQUEST_HEADERS)))
    client.send(frame(http2.DATA, 0, 1, b"a" * 600))
    client.read()
    client.send(frame(http2.DATA, 0, 3, b"b" * 600))
    assert client.read() == [(http2.RST_STREAM, 0, 3, struct.pack(">I", http2.REFUSED_STREAM))]
    (call,) = client.send(frame(http2.DATA, http2.END_STREAM, 1, b"a" * 100))
    assert len(call.body) == 700


def test_a_call_reset_while_it_runs_still_counts_and_its_answer_goes_nowhere():
    client = Client()  # max_streams=4
    for stream_id in (1, 3, 5, 7):
        client.send(client.request(stream_id, b"q"))
        client.send(frame(http2.RST_STREAM, 0, stream_id, struct.pack(">I", 8)))
        assert client.session.is_reset(stream_id)
    client.read()
    client.send(client.request(9, b"q"))  # four calls still run: a fifth is refused
    assert client.read() == [(http2.RST_STREAM, 0, 9, struct.pack(">I", http2.REFUSED_STREAM))]
    client.session.answer(1, http2.STATUS_200, b"message", b"")
    assert client.read() == [] and client.session.open_streams == 3


def test_a_window_update_of_zero_is_a_protocol_error():
    client = Client()
    with pytest.raises(http2.ProtocolError):
        client.send(frame(http2.WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)))


def test_a_client_that_shrinks_its_header_table_hears_so_in_the_next_block():
    client = Client(settings=struct.pack(">HI", http2.SETTINGS_HEADER_TABLE_SIZE, 0))
    client.send(client.request(1, b"q"))
    client.read()
    client.session.answer_trailers_only(1, http2.STATUS_200 + http2.literal(b"grpc-status", b"0"))
    ((_, _, _, block),) = client.read()
    assert block[:1] == b"\x20"
    assert client.decoder.decode(block) == [(":status", "200"), ("grpc-status", "0")]


def test_an_answer_waits_for_the_clients_window_and_fits_its_frame_size():
    client = Client(settings=struct.pack(">HI", http2.SETTINGS_INITIAL_WINDOW_SIZE, 10))
    (call,) = client.send(client.request(1, b"q"))
    client.read()
    message = bytes(range(256)) * 100  # 25,600 bytes: two frames of at most 16,384
    client.session.answer(1, http2.STATUS_200, message, http2.literal(b"grpc-status", b"0"))
    sent = client.read()
    assert [(kind, len(payload)) for kind, _, _, payload in sent] == [(http2.HEADERS, 1), (http2.DATA, 10)]
    client.send(frame(http2.WINDOW_UPDATE, 0, 1, struct.pack(">I", 100_000)))
    sent = client.read()
    data = [payload for kind, _, _, payload in sent if kind == http2.DATA]
    assert [len(d) for d in data] == [16_384, 25_600 - 10 - 16_384]
    assert sent[-1][:3] == (http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 1)
    assert client.decoder.decode(sent[-1][3]) == [("grpc-status", "0")]
    assert client.session.open_streams == 0


def test_a_reset_stream_drops_its_waiting_answer():
    client = Client(settings=struct.pack(">HI", http2.SETTINGS_INITIAL_WINDOW_SIZE, 0))
    client.send(client.request(1, b"q"))
    client.session.answer(1, http2.STATUS_200, b"message", b"")
    client.send(frame(http2.RST_STREAM, 0, 1, struct.pack(">I", 8)))
    client.read()
    client.send(frame(http2.WINDOW_UPDATE, 0, 1, struct.pack(">I", 100)))
    assert all(kind != http2.DATA for kind, *_ in client.read())
    assert client.session.open_streams == 0


def test_streams_past_the_limit_are_refused():
    client = Client()
    for stream_id in (1, 3, 5, 7):
        client.send(frame(http2.HEADERS, http2.END_HEADERS, stream_id, client.encoder.encode(REQUEST_HEADERS)))
    client.read()
    client.send(frame(http2.HEADERS, http2.END_HEADERS, 9, client.encoder.encode(REQUEST_HEADERS)))
    assert client.read() == [(http2.RST_STREAM, 0, 9, struct.pack(">I", http2.REFUSED_STREAM))]


@pytest.mark.parametrize(
    "wire",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # HTTP/1.1 on the gRPC port
        http2.PREFACE + frame(http2.HEADERS, http2.END_HEADERS, 2, b"\x82"),  # an even stream id
        http2.PREFACE + frame(http2.DATA, 0, 5, b"x"),  # DATA on a stream never opened
        http2.PREFACE + frame(http2.PING, 0, 0, b"short"),
        http2.PREFACE + frame(http2.HEADERS, http2.END_HEADERS, 1, b"\xff\xff\xff\xff\x0f"),  # not HPACK
        http2.PREFACE + frame(http2.PUSH_PROMISE, 0, 1, b"\x00\x00\x00\x02"),
    ],
)
def test_a_broken_connection_gets_a_goaway_that_says_why(wire):
    session = http2.Session(max_streams=4, max_body_bytes=1000, max_header_bytes=4096)
    session.take_outbox()
    with pytest.raises(http2.ProtocolError) as raised:
        session.received(wire)
    ((kind, _, _, payload),) = frames(session.take_outbox())
    assert kind == http2.GOAWAY
    assert struct.unpack_from(">I", payload, 4)[0] == raised.value.code != http2.NO_ERROR
    assert payload[8:].decode() == str(raised.value)


def test_a_repeated_header_block_is_decoded_once_until_the_table_changes():
    client = Client(http2.Session(max_streams=10, max_body_bytes=1000, max_header_bytes=4096))
    first = client.encoder.encode(REQUEST_HEADERS)  # literals that enter the table
    again = client.encoder.encode(REQUEST_HEADERS)  # indexes into it
    assert first != again
    (a,) = client.send(frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 1, first))
    (b,) = client.send(frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 3, again))
    (c,) = client.send(frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 5, again))
    assert a.headers == b.headers and b.headers is c.headers
    changed = client.encoder.encode([*REQUEST_HEADERS[:3], (":authority", "elsewhere"), *REQUEST_HEADERS[4:]])
    (d,) = client.send(frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 7, changed))
    assert d.headers[b":authority"] == b"elsewhere"
    (e,) = client.send(
        frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 9, client.encoder.encode(REQUEST_HEADERS))
    )
    assert e.headers[b":authority"] == b"localhost"


def test_answer_header_blocks_decode_as_written():
    block = http2.STATUS_200 + http2.literal(b"grpc-message", b"x" * 300) + http2.status(415)
    assert hpack.Decoder().decode(block) == [(":status", "200"), ("grpc-message", "x" * 300), (":status", "415")]


def test_a_graceful_stop_takes_the_calls_already_sent_then_names_the_last():
    client = Client()
    client.read()
    client.session.drain()
    ((kind, _, _, payload),) = client.read()
    assert kind == http2.GOAWAY and struct.unpack(">II", payload) == (2**31 - 1, http2.NO_ERROR)
    (call,) = client.send(client.request(1, b"sent before the client read the GOAWAY"))
    assert call.stream_id == 1
    client.session.go_away()
    ((kind, _, _, payload),) = client.read()
    assert kind == http2.GOAWAY and struct.unpack(">II", payload) == (1, http2.NO_ERROR)
    client.send(client.request(3, b"after"))
    assert client.read() == [(http2.RST_STREAM, 0, 3, struct.pack(">I", http2.REFUSED_STREAM))]


def test_an_answer_that_fits_goes_as_one_data_frame_and_uses_up_the_connections_window():
    client = Client()
    client.send(client.request(1, b"q") + client.request(3, b"q"))
    client.read()
    # the connection's window is 65,535 bytes until the client widens it
    client.session.answer(1, http2.STATUS_200, b"a" * 16_000, http2.literal(b"grpc-status", b"0"))
    sent = client.read()
    assert [(kind, flags, len(payload)) for kind, flags, _, payload in sent] == [
        (http2.HEADERS, http2.END_HEADERS, 1),
        (http2.DATA, 0, 16_000),
        (http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, len(http2.literal(b"grpc-status", b"0"))),
    ]
    client.session.answer(3, http2.STATUS_200, b"b" * 70_000, b"")
    data = [payload for kind, _, _, payload in client.read() if kind == http2.DATA]
    assert sum(map(len, data)) == 65_535 - 16_000  # the rest waits for a WINDOW_UPDATE
    assert client.session.open_streams == 1
