"""Run wrk with post.lua and parse its report: req/s, p50, p99, errors."""

import os
import re
import resource
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cases import Payload

POST_SCRIPT = Path(__file__).with_name("post.lua")
TIMEOUT_S = 20
TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int  # wrk counts statuses >= 400 ("Non-2xx or 3xx responses")
    socket_errors: dict[str, int]
    command: str
    output: str = field(repr=False)
    client_cpu_s: float | None = None  # the load generator's CPU time (user + system) in the run
    server_cpu_s: float | None = None  # the server tree's, from the run's start to its end

    def cpu_us_per_request(self, seconds: float | None) -> float | None:
        return seconds / self.requests * 1e6 if seconds is not None and self.requests else None

    @property
    def problems(self) -> list[str]:
        problems = [f"{self.non_2xx} non-2xx"] if self.non_2xx else []
        problems += [f"{count} socket {kind} errors" for kind, count in self.socket_errors.items() if count]
        if not self.requests:
            problems.append("no requests completed")
        return problems

    def to_json(self) -> dict:
        return {**asdict(self), "problems": self.problems}


def wrk_command(url: str, concurrency: int, duration: int, threads: int) -> list[str]:
    # --timeout: wrk's default of 2 s would drop the slowest answers of a loaded machine from the latencies
    return ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", f"--timeout={TIMEOUT_S}s", "--latency",
            "-s", str(POST_SCRIPT), url]  # fmt: skip


def run_wrk(url: str, payload: Payload, concurrency: int, duration: int, threads: int) -> WrkResult:
    """wrk with `threads` threads (at most `concurrency`: each thread needs a connection)."""
    command = wrk_command(url, concurrency, duration, min(threads, concurrency))
    env = {
        **os.environ,
        "BENCH_BODY": str(payload.path),
        "BENCH_CONTENT_TYPE": payload.content_type,
        "BENCH_HEADER_LENGTH": "" if payload.header_length is None else str(payload.header_length),
    }
    completed, cpu_s = run_timed(command, env=env, timeout=duration + 60)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {' '.join(command)}\n{completed.stderr}")
    result = parse_wrk(completed.stdout, " ".join(command))
    result.client_cpu_s = cpu_s
    return result


def run_timed(command: list[str], **options) -> tuple[subprocess.CompletedProcess, float]:
    """Run a load generator; also its CPU time (user + system, its threads and children included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, capture_output=True, text=True, **options)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return completed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def parse_wrk(output: str, command: str) -> WrkResult:
    return WrkResult(
        requests_per_second=float(_search(r"^Requests/sec:\s+([\d.]+)", output)),
        p50_ms=_milliseconds(_search(r"^\s+50%\s+(\S+)", output)),
        p99_ms=_milliseconds(_search(r"^\s+99%\s+(\S+)", output)),
        requests=int(_search(r"^\s+(\d+) requests in", output)),
        non_2xx=int(_search(r"^\s+Non-2xx or 3xx responses:\s+(\d+)", output, default="0")),
        socket_errors=_socket_errors(output),
        command=command,
        output=output,
    )


def _search(pattern: str, output: str, default: str | None = None) -> str:
    match = re.search(pattern, output, re.MULTILINE)
    if match:
        return match.group(1)
    if default is None:
        raise ValueError(f"wrk output has no match for {pattern!r}:\n{output}")
    return default


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"unexpected wrk time {text!r}")
    return float(match.group(1)) * TIME_UNITS_MS[match.group(2)]


def _socket_errors(output: str) -> dict[str, int]:
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    counts = [int(n) for n in match.groups()] if match else [0, 0, 0, 0]
    return dict(zip(("connect", "read", "write", "timeout"), counts))
