"""Requests gathered whole from bytes as they arrive, byte by byte or several at once."""

import pytest

from service.server.intake import Refusal, RequestReader


def reader(**limits) -> RequestReader:
    return RequestReader(**{"max_header_bytes": 1024, "max_body_bytes": 100, **limits})


def feed_bytewise(r: RequestReader, data: bytes) -> None:
    for index in range(len(data)):
        r.feed(data[index : index + 1])


def test_a_request_fed_a_byte_at_a_time_is_whole_only_at_its_last_byte():
    r = reader()
    request = b"POST /v2/x?y=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    feed_bytewise(r, request[:-1])
    assert not r.ready and r.in_body
    r.feed(request[-1:])
    (whole,) = r.ready
    assert (whole.method, whole.target, whole.body, whole.keep_alive) == ("POST", b"/v2/x?y=1", b"hello", True)
    assert (b"Host", b"h") in whole.headers


def test_pipelined_requests_come_out_in_order_and_a_chunked_body_is_joined():
    r = reader()
    r.feed(
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        b"GET /c HTTP/1.0\r\n\r\n"
    )
    assert [(q.target, q.body, q.keep_alive) for q in r.ready] == [
        (b"/a", b"", True),
        (b"/b", b"abcde", True),
        (b"/c", b"", False),
    ]


def test_a_declared_length_past_the_limit_is_refused_before_any_body_arrives():
    r = reader()
    with pytest.raises(Refusal) as refused:
        r.feed(b"POST /x HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
    assert refused.value.status == 413 and refused.value.method == "POST" and refused.value.target == b"/x"


def test_chunks_past_the_limit_are_refused_as_they_come():
    r = reader()
    r.feed(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n" + b"a" * 50 + b"\r\n")
    with pytest.raises(Refusal) as refused:
        r.feed(b"33\r\n" + b"a" * 51 + b"\r\n")
    assert refused.value.status == 413


def test_headers_past_the_limit_are_refused_before_they_end():
    r = reader(max_header_bytes=64)
    r.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(Refusal) as refused:
        r.feed(b"X-Long: " + b"a" * 60)
    assert refused.value.status == 431


def test_garbage_is_a_400_naming_the_parser_error():
    with pytest.raises(Refusal) as refused:
        reader().feed(b"\x16\x03\x01 not http\r\n\r\n")
    assert refused.value.status == 400
    assert "malformed HTTP request" in refused.value.message


def test_expect_100_continue_is_wanted_until_the_body_starts():
    r = reader()
    r.feed(b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert r.wants_continue
    r.feed(b"a")
    assert not r.wants_continue
