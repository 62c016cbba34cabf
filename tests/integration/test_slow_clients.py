"""Slow, idle and oversized clients against a real server: none of them holds a thread, each gets
the answer its limit names, and a well-behaved client beside them is served."""

import json
import socket
import time

import pytest
import requests

from bench.slow_clients import siege

pytestmark = pytest.mark.integration

INFER = json.dumps({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 0]}]}).encode()


def infer_request(body: bytes = INFER, extra: str = "") -> bytes:
    return (
        f"POST /v2/models/fold/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def read_answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    """One HTTP answer: status, headers (lower-case names), body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_a_good_client_is_served_while_idle_and_trickling_sockets_hold_the_server(start_server, models_copy):
    server = start_server(models_copy, workers=2)
    result = siege("127.0.0.1", server.port, hostile=256, duration_s=20.0, patience_s=1.0, model="fold")
    print(result.summary())
    assert result.asked > 100, result.summary()
    assert result.good_share >= 0.95, result.summary()
    assert requests.get(f"{server.url}/v2/health/live", timeout=2).status_code == 200


@pytest.mark.parametrize("sent", ["headers", "body"])
def test_a_request_that_does_not_arrive_in_time_gets_408_naming_its_setting(start_server, models_copy, sent):
    server = start_server(
        models_copy, workers=1, env={"LAYERSERVE_HEADER_TIMEOUT": "1", "LAYERSERVE_BODY_TIMEOUT": "1.5"}
    )
    request = infer_request()
    cut = 30 if sent == "headers" else len(request) - 5
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request[:cut])
        started = time.monotonic()
        status, headers, body = read_answer(sock)
        waited = time.monotonic() - started
        assert sock.recv(100) == b""  # and the connection is closed
    setting = "LAYERSERVE_HEADER_TIMEOUT" if sent == "headers" else "LAYERSERVE_BODY_TIMEOUT"
    assert status == 408
    assert setting in json.loads(body)["error"]
    assert headers["x-request-id"] == json.loads(body)["request_id"]
    assert 0.9 <= waited <= 4.0
    assert '"status":408' in server.log().replace(" ", "")


def test_headers_past_the_limit_get_431_before_they_end(start_server, models_copy):
    server = start_server(models_copy, workers=1, env={"LAYERSERVE_MAX_HEADER_BYTES": "4096"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000)  # no end of headers
        status, _, body = read_answer(sock)
    assert status == 431
    assert "LAYERSERVE_MAX_HEADER_BYTES" in json.loads(body)["error"]


def test_an_oversized_body_is_refused_from_its_length_and_the_client_reads_the_answer(start_server, models_copy):
    server = start_server(models_copy, workers=1, env={"LAYERSERVE_MAX_BODY_BYTES": "1000"})
    body = b"[" + b"0," * 500_000 + b"0]"  # 1 MB, sent whole: the server answers early and drops the rest
    response = requests.post(
        f"{server.url}/v2/models/fold/infer", data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 413
    assert "LAYERSERVE_MAX_BODY_BYTES" in response.json()["error"]
    assert requests.get(f"{server.url}/v2/health/live", timeout=2).status_code == 200


def test_expect_100_continue_is_answered_before_the_body_and_refused_when_too_large(start_server, models_copy):
    server = start_server(models_copy, workers=1, env={"LAYERSERVE_MAX_BODY_BYTES": "1000"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        request = infer_request(extra="Expect: 100-continue\r\n")
        head, body = request.split(b"\r\n\r\n", 1)
        sock.sendall(head + b"\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        status, _, answer = read_answer(sock)
        assert status == 200 and "outputs" in json.loads(answer)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            infer_request(b"x" * 5000, extra="Expect: 100-continue\r\n").split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        )
        status, _, _ = read_answer(sock)  # no 100 Continue first: the body would be refused anyway
        assert status == 413


def test_at_the_connection_cap_the_longest_idle_connection_makes_room(start_server, models_copy):
    server = start_server(models_copy, workers=1, env={"LAYERSERVE_MAX_CONNECTIONS": "4"})
    held = []
    for _ in range(4):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(sock)[0] == 200
        held.append(sock)
        time.sleep(0.05)
    newcomer = requests.get(f"{server.url}/v2/health/live", timeout=5)
    assert newcomer.status_code == 200
    assert held[0].recv(100) == b""  # the longest idle one was closed to make room
    held[-1].sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")  # the others still serve
    assert read_answer(held[-1])[0] == 200
    for sock in held:
        sock.close()


def test_garbage_gets_400_and_after_a_whole_request_closes_the_connection(start_server, models_copy):
    server = start_server(models_copy, workers=1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n")
        first, headers, _ = read_answer(sock)
        assert sock.recv(100) == b""
    assert first == 200
    assert headers["connection"] == "close"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, _, body = read_answer(sock)
    assert status == 400
    assert "malformed HTTP request" in json.loads(body)["error"]
