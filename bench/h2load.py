"""Run h2load (nghttp2's HTTP/2 load generator, written in C like wrk) with gRPC calls and parse
its report into a WrkResult: the same ready-made ModelInferRequest on every call, `concurrency`
connections with one call in flight on each (-m1, as wrk keeps one request per connection).

h2load judges answers by their HTTP status, but a failed gRPC call is a 200 too: its error is in
the trailers and it carries no message. So the calls that succeeded are counted from the DATA
bytes received, every good answer being the same `message_bytes` long.
"""

import re
import tempfile
from pathlib import Path

from .wrk import WrkResult, run_timed

GRPC_METHOD = "/inference.GRPCInferenceService/ModelInfer"


def h2load_command(target: str, body: Path, concurrency: int, duration: int, threads: int, log: Path) -> list[str]:
    return ["h2load", f"-c{concurrency}", f"-t{min(threads, concurrency)}", "-m1", f"-D{duration}",
            "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
            "--log-file", str(log), f"http://{target}{GRPC_METHOD}"]  # fmt: skip


def run_h2load(target: str, body: Path, message_bytes: int, concurrency: int, duration: int, threads: int) -> WrkResult:
    """`body` holds the gRPC-framed request; `message_bytes` is a good answer's framed length."""
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "calls.tsv"
        command = h2load_command(target, body, concurrency, duration, threads, log)
        completed, cpu_s = run_timed(command, timeout=duration + 60)
        if completed.returncode != 0:
            raise RuntimeError(f"h2load failed ({completed.returncode}): {' '.join(command)}\n{completed.stderr}")
        latencies = sorted(int(line.split("\t")[2]) / 1e3 for line in log.read_text().splitlines() if line)
    result = parse_h2load(completed.stdout, " ".join(command), message_bytes, latencies)
    result.client_cpu_s = cpu_s
    return result


def parse_h2load(output: str, command: str, message_bytes: int, latencies_ms: list[float]) -> WrkResult:
    done, timeouts = (
        int(n) for n in _search(r"requests: \d+ total, \d+ started, (\d+) done, .*?(\d+) timeout", output)
    )
    data_bytes = int(_search(r"traffic: .*?, \S+ \((\d+)\) data", output)[0])
    answered = min(done, data_bytes // message_bytes)
    return WrkResult(
        requests_per_second=float(_search(r"finished in [\d.]+s, ([\d.]+) req/s", output)[0]),
        p50_ms=_percentile(latencies_ms, 0.50),
        p99_ms=_percentile(latencies_ms, 0.99),
        requests=done,
        non_2xx=done - answered,  # HTTP errors, and gRPC errors answered with a 200
        socket_errors={"timeout": timeouts},
        command=command,
        output=output,
    )


def _search(pattern: str, output: str) -> tuple[str, ...]:
    match = re.search(pattern, output)
    if not match:
        raise ValueError(f"h2load output has no match for {pattern!r}:\n{output}")
    return match.groups()


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]
