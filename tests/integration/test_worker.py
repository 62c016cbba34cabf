"""The serving worker under real clients: connections spread over the workers, a busy connection
never starves another, pipelined requests are all answered, and only requests with work to do
take one of the few running slots."""

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from .test_metrics import BATCHED_FOLD, scrape

pytestmark = pytest.mark.integration

ONE_FOLD_SAMPLE = json.dumps({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 1]}]})
HEADERS = {"Content-Type": "application/json"}


def connections_per_worker(server) -> dict[int, int]:
    counts = {}
    for worker in psutil.Process(server.process.pid).children():
        counts[worker.pid] = sum(
            1
            for c in worker.net_connections(kind="tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == server.port
        )
    return counts


def read_response(reader) -> tuple[int, bytes]:
    status = int(reader.readline().split()[1])
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return status, reader.read(length)


def test_keep_alive_connections_are_spread_evenly_over_the_workers(start_server, models_copy):
    server = start_server(models_copy, workers=2)
    clients = []
    for _ in range(16):  # one after another: each worker is idle when the next one connects
        client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        client.request("GET", "/v2/health/live")
        assert client.getresponse().read() is not None
        clients.append(client)
    counts = connections_per_worker(server)
    for client in clients:
        client.close()
    assert sum(counts.values()) == 16
    assert max(counts.values()) - min(counts.values()) <= 2, counts


def test_a_busy_connection_does_not_keep_the_only_thread_from_another(start_server, models_copy):
    server = start_server(models_copy, workers=1, env={"LAYERSERVE_THREADS": "1"})
    stop, answered = threading.Event(), []

    def busy():  # a client that sends its next request as soon as the answer is in
        client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        while not stop.is_set():
            client.request("POST", "/v2/models/fold/infer", ONE_FOLD_SAMPLE, HEADERS)
            response = client.getresponse()
            response.read()
            answered.append(response.status)
        client.close()

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(answered) < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(answered) >= 50, "the busy client was not served"
        other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        other.request("POST", "/v2/models/fold/infer", ONE_FOLD_SAMPLE, HEADERS)
        status = other.getresponse().status  # within the client's 5 s timeout
        busy_count_at_answer = len(answered)
        other.close()
        time.sleep(0.1)
        assert status == 200
        assert len(answered) > busy_count_at_answer, "the busy client stopped being served"
    finally:
        stop.set()
        thread.join()
    assert set(answered) == {200}


def test_pipelined_requests_are_all_answered_in_order(start_server, models_copy):
    server = start_server(models_copy, workers=1)
    body = ONE_FOLD_SAMPLE.encode()
    infer = (
        f"POST /v2/models/fold/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    health = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(infer + health + infer)
        with sock.makefile("rb") as reader:
            answers = [read_response(reader) for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 200]
    assert json.loads(answers[0][1])["outputs"] == json.loads(answers[2][1])["outputs"]
    assert "outputs" not in json.loads(answers[1][1])


@pytest.mark.parametrize("sent_first", [40, 120], ids=["in its headers", "in its body"])
def test_a_client_that_stalls_does_not_hold_the_only_running_slot(start_server, models_copy, sent_first):
    server = start_server(models_copy, workers=1, env={"LAYERSERVE_ACTIVE_REQUESTS": "1"})
    body = ONE_FOLD_SAMPLE.encode()
    request = (
        f"POST /v2/models/fold/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    assert (sent_first < request.index(b"\r\n\r\n")) == (sent_first == 40)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(request[:sent_first])
        time.sleep(0.2)  # its thread is now waiting for the rest
        other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        other.request("POST", "/v2/models/fold/infer", ONE_FOLD_SAMPLE, HEADERS)
        answered = other.getresponse()
        assert answered.status == 200
        expected = json.loads(answered.read())["outputs"]
        other.close()
        slow.sendall(request[sent_first:])
        with slow.makefile("rb") as reader:
            status, answer = read_response(reader)
    assert status == 200
    assert json.loads(answer)["outputs"] == expected


def test_requests_waiting_for_a_batch_do_not_hold_running_slots(start_server, models_copy):
    (models_copy / "batched_fold").mkdir()
    (models_copy / "batched_fold" / "model.yaml").write_text(BATCHED_FOLD)
    server = start_server(models_copy, workers=1, env={"LAYERSERVE_ACTIVE_REQUESTS": "1"})

    def call(_):
        client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        client.request("POST", "/v2/models/batched_fold/infer", ONE_FOLD_SAMPLE, HEADERS)
        response = client.getresponse()
        response.read()
        client.close()
        return response.status

    for _ in range(5):  # concurrent requests: at least one pass merges several
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(call, range(16))) == {200}
    samples = scrape(server.url)
    passes = samples["layerserve_batch_size_count"][(("model", "batched_fold"),)]
    rows = samples["layerserve_batch_size_sum"][(("model", "batched_fold"),)]
    assert rows == 80
    assert passes < rows


def test_a_batch_grows_past_the_thread_count(start_server, models_copy):
    """Requests waiting for their batch hold no request thread: with 2 threads and 16 clients at
    once, batches merge more than 2 requests."""
    (models_copy / "batched_fold").mkdir()
    (models_copy / "batched_fold" / "model.yaml").write_text(
        BATCHED_FOLD.replace(
            "max_queue_delay_microseconds: 2000, preferred_batch_size: [8]",
            "max_queue_delay_microseconds: 50000, preferred_batch_size: [16]",
        )
    )
    server = start_server(models_copy, workers=1, env={"LAYERSERVE_THREADS": "2"})
    barrier = threading.Barrier(16)

    def call(_):
        client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        client.connect()
        barrier.wait()
        client.request("POST", "/v2/models/batched_fold/infer", ONE_FOLD_SAMPLE, HEADERS)
        response = client.getresponse()
        answer = json.loads(response.read())
        client.close()
        return response.status, answer["outputs"][0]["data"]

    for _ in range(3):
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(call, range(16)))
        assert all(status == 200 and data == [1.5, 0.5] for status, data in answers), answers
    samples = scrape(server.url)
    passes = samples["layerserve_batch_size_count"][(("model", "batched_fold"),)]
    rows = samples["layerserve_batch_size_sum"][(("model", "batched_fold"),)]
    assert rows == 48
    assert rows / passes > 2, f"{rows} rows in {passes} passes"
