"""A whole request through a WSGI app and back as bytes, as PEP 3333 and HTTP/1.1 want them."""

import email.utils
import time

from service.server.intake import Request
from service.server.wsgi_bridge import WsgiBridge, http_date


def echo_environ(environ, start_response):
    seen = {k: v for k, v in environ.items() if isinstance(v, str)}
    seen["body"] = environ["wsgi.input"].read().decode()
    body = repr(sorted(seen.items())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "upgrade")])
    return [body]


def request(target=b"/a%20b?x=1", headers=(), body=b"", method="POST", version="1.1", keep_alive=True):
    return Request(method, target, version, list(headers), body, keep_alive)


def respond(req, app=echo_environ):
    return WsgiBridge(app, server_name="h", server_port="80").respond(req, ("10.0.0.1", 5555))


def test_the_environ_carries_path_query_headers_and_the_whole_body():
    answer, keep_alive = respond(
        request(headers=[(b"Content-Type", b"application/json"), (b"X-A", b"1"), (b"x-a", b"2")], body=b"{}")
    )
    environ = dict(eval(answer.split(b"\r\n\r\n", 1)[1]))  # noqa: S307 (repr of a list of str pairs)
    assert environ["PATH_INFO"] == "/a b" and environ["QUERY_STRING"] == "x=1"
    assert environ["CONTENT_TYPE"] == "application/json" and environ["CONTENT_LENGTH"] == "2"
    assert environ["HTTP_X_A"] == "1,2" and environ["body"] == "{}"
    assert environ["REMOTE_ADDR"] == "10.0.0.1"
    assert keep_alive


def test_a_header_with_an_underscore_cannot_pose_as_one_with_a_dash():
    answer, _ = respond(request(headers=[(b"X_Forwarded_For", b"1.2.3.4")]))
    assert b"HTTP_X_FORWARDED_FOR" not in answer


def test_the_server_decides_hop_by_hop_headers_and_adds_length_and_date():
    answer, keep_alive = respond(request(keep_alive=False))
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 200 OK\r\n")
    assert "Connection: upgrade" not in head and "Connection: close" in head
    assert "Content-Length: " in head and "Date: " in head
    assert not keep_alive


def test_head_answers_carry_no_body():
    answer, _ = respond(request(method="HEAD"))
    assert answer.endswith(b"\r\n\r\n")


def test_an_app_that_raises_gets_a_json_500_and_the_connection_closes():
    def broken(environ, start_response):
        raise RuntimeError("boom")

    answer, keep_alive = respond(request(), broken)
    assert answer.startswith(b"HTTP/1.1 500 ") and b'"error"' in answer and b"boom" not in answer
    assert not keep_alive


def test_the_date_header_is_the_current_second_in_http_format():
    before = int(time.time())
    sent = http_date()
    assert email.utils.parsedate_to_datetime(sent).timestamp() >= before
    assert sent.endswith(" GMT")
