"""Slow and idle clients against a server, and one well-behaved client beside them.

Hostile sockets come in two kinds, half each: *idle* ones send one byte of a request and go
quiet; *trickling* ones send a request line and then a header one byte a second. Whenever the
server closes one (a 408, a reset), another takes its place, so the pressure holds for the whole
siege. Meanwhile a good client asks, each on a new connection, for `/v2/health/live` and a
one-sample infer, alternating, and counts an answer as good when it is a 200 within `patience_s`.
Both are what the bench's plain app serves too (`/v2/health/ready`, any model with 2 inputs).

`python -m bench.slow_clients --port 8000 --hostile 256` runs it against a running server;
`make bench` runs it at 256 and 1,024 hostile sockets (bench/run.py), and
tests/integration/test_slow_clients.py holds the server to the acceptance figures.
"""

import argparse
import http.client
import json
import selectors
import socket
import statistics
import threading
import time
from dataclasses import dataclass

INFER_BODY = json.dumps({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 0]}]})
HEALTH_PATH = "/v2/health/ready"
TRICKLE_START = b"GET /v2/health/ready HTTP/1.1\r\nHost: siege\r\nX-Trickle: "
SIEGE_S = 20.0


@dataclass
class SiegeResult:
    hostile: int
    duration_s: float
    asked: int
    good: int  # 200 within patience
    latencies_ms: list[float]
    hostile_connections: int  # connections the attackers opened in all (reconnects included)

    @property
    def good_share(self) -> float:
        return self.good / self.asked if self.asked else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def to_json(self) -> dict:
        return {
            "hostile": self.hostile,
            "duration_s": self.duration_s,
            "asked": self.asked,
            "good": self.good,
            "good_share": self.good_share,
            "p50_ms": self.percentile(0.5),
            "p99_ms": self.percentile(0.99),
            "hostile_connections": self.hostile_connections,
        }

    def summary(self) -> str:
        return (
            f"{self.hostile} hostile sockets for {self.duration_s:.0f} s: good client {self.good}/{self.asked} "
            f"answered within patience ({self.good_share:.1%}), p50 {self.percentile(0.5):.1f} ms, "
            f"p99 {self.percentile(0.99):.1f} ms; attackers opened {self.hostile_connections} connections"
        )


class Attackers:
    """`count` hostile sockets held open from one thread; closed ones are replaced."""

    def __init__(self, host: str, port: int, count: int):
        self.host, self.port, self.count = host, port, count
        self.selector = selectors.DefaultSelector()
        self.opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Attackers":
        for index in range(self.count):
            self._open(trickle=index % 2 == 1)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()

    def _open(self, trickle: bool) -> None:
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex((self.host, self.port))
        self.opened += 1
        self.selector.register(sock, selectors.EVENT_WRITE, {"trickle": trickle, "sent": False})

    def _run(self) -> None:
        next_trickle = time.monotonic() + 1.0
        while not self._stop.is_set():
            for key, _ in self.selector.select(0.1):
                sock, state = key.fileobj, key.data
                if not state["sent"]:
                    try:
                        sock.send(TRICKLE_START if state["trickle"] else b"G")
                    except OSError:
                        self._replace(sock, state)
                        continue
                    state["sent"] = True
                    self.selector.modify(sock, selectors.EVENT_READ, state)
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:  # the server closed it (after a 408): another takes its place
                    self._replace(sock, state)
            if time.monotonic() >= next_trickle:
                next_trickle += 1.0
                for key in list(self.selector.get_map().values()):
                    if key.data["trickle"] and key.data["sent"]:
                        try:
                            key.fileobj.send(b"a")
                        except OSError:
                            self._replace(key.fileobj, key.data)

    def _replace(self, sock: socket.socket, state: dict) -> None:
        self.selector.unregister(sock)
        sock.close()
        if not self._stop.is_set():
            self._open(trickle=state["trickle"])


def good_client(host: str, port: int, duration_s: float, patience_s: float, model: str) -> tuple[int, int, list[float]]:
    """Alternate health and a small infer, each on a new connection, for `duration_s`."""
    asked = good = 0
    latencies = []
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        started = time.perf_counter()
        asked += 1
        try:
            client = http.client.HTTPConnection(host, port, timeout=patience_s)
            if asked % 2:
                client.request("GET", HEALTH_PATH)
            else:
                client.request("POST", f"/v2/models/{model}/infer", INFER_BODY, {"Content-Type": "application/json"})
            response = client.getresponse()
            response.read()
            client.close()
            elapsed = time.perf_counter() - started
            latencies.append(elapsed * 1e3)
            good += response.status == 200 and elapsed <= patience_s
        except OSError:
            latencies.append(patience_s * 1e3)
        time.sleep(0.02)
    return asked, good, latencies


def siege(
    host: str, port: int, hostile: int, duration_s: float = SIEGE_S, patience_s: float = 1.0, model: str = "tiny"
) -> SiegeResult:
    attackers = Attackers(host, port, hostile).start()
    try:
        time.sleep(1.0)  # every hostile socket connected and holding before the good client starts
        asked, good, latencies = good_client(host, port, duration_s, patience_s, model)
    finally:
        attackers.stop()
    return SiegeResult(hostile, duration_s, asked, good, latencies, attackers.opened)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--hostile", type=int, default=256, help="hostile sockets (half idle, half trickling)")
    parser.add_argument("--duration", type=float, default=SIEGE_S)
    parser.add_argument("--model", default="fold", help="a model with one input of 2 values (default fold)")
    args = parser.parse_args(argv)
    result = siege(args.host, args.port, args.hostile, args.duration, model=args.model)
    print(result.summary())
    print(f"median of latencies: {statistics.median(result.latencies_ms):.1f} ms")
    return 0 if result.good_share >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
