"""`make bench`: layerserve against the plain afternoon app, cell by cell, in rounds; see bench/README.md."""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import report, servers
from .answers import check_http, compare
from .cases import (
    BATCHING_CASE_ID,
    BATCHING_CONCURRENCY,
    BATCHING_MODELS,
    CASES,
    GRPC_CASES,
    Case,
    Payload,
    cases_for_model,
    select_cases,
    write_binary_payload,
    write_json_payload,
)
from .h2load import run_h2load
from .memory import exercise, tree_memory
from .py_load import grpc_answer, grpc_wire, py_load
from .servers import Server
from .slow_clients import SIEGE_S, siege
from .wrk import WrkResult, run_wrk

RESULTS_DIR = Path(__file__).with_name("results")
WARM_UP_S = 2
DETAIL_CHARS = 200
STARTED = time.monotonic()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--duration", type=_positive_int, default=5, help="seconds per measured run (default 5)")
    parser.add_argument(
        "--rounds",
        type=_positive_int,
        default=3,
        help="runs per cell, the servers compared taking turns; medians and every round are reported (default 3)",
    )
    parser.add_argument(
        "--cases", type=_names, help=f"comma-separated case ids or model names (default all: {_case_ids()})"
    )
    parser.add_argument(
        "--concurrency",
        type=_numbers,
        help="comma-separated connection counts for every throughput case (default: each case's own, 1,16 or 16)",
    )
    parser.add_argument(
        "--wrk-threads", type=_numbers, default=[1, 4], help="load generator threads, each a cell (default 1,4)"
    )
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory measurements")
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive app (layerserve's stack, jsonify)")
    parser.add_argument("--skip-batching", action="store_true", help="skip the dynamic batching cells")
    parser.add_argument("--skip-grpc", action="store_true", help="skip the gRPC cells")
    parser.add_argument(
        "--hostile",
        type=_numbers,
        default=[256, 1024],
        help="slow-client cells: hostile sockets (half idle, half trickling a header) beside a good client "
        "(default 256,1024)",
    )
    parser.add_argument("--skip-slow-clients", action="store_true", help="skip the slow-client cells")
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _numbers(text: str) -> list[int]:
    return [_positive_int(n) for n in _names(text)]


def _case_ids() -> str:
    return ", ".join(c.id for c in CASES)


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f}s] {message}", file=sys.stderr, flush=True)


# Outcomes: what one contender did in one cell, as JSON-ready dicts.


def measured(results: list[WrkResult]) -> dict:
    """The rounds of one contender: medians of req/s, p50 and p99; every round's numbers kept."""
    problems = [problem for result in results for problem in result.problems]
    return {
        "status": "flagged" if problems else "ok",
        "detail": ", ".join(dict.fromkeys(problems)),
        "wrk": {
            "requests_per_second": statistics.median(r.requests_per_second for r in results),
            "p50_ms": statistics.median(r.p50_ms for r in results),
            "p99_ms": statistics.median(r.p99_ms for r in results),
            "server_cpu_us": _median(r.cpu_us_per_request(r.server_cpu_s) for r in results),
            "client_cpu_us": _median(r.cpu_us_per_request(r.client_cpu_s) for r in results),
            "rounds": [r.to_json() for r in results],
        },
    }


def _median(values) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def not_measured(status: str, detail: str) -> dict:
    return {"status": status, "detail": " ".join(detail.split())[:DETAIL_CHARS]}


# Measuring.


@dataclass(frozen=True)
class Contender:
    """Who answers, which model, what request, and the load generator: wrk, h2load over gRPC
    ("grpc-h2load"), or bench/py_load.py over gRPC ("grpc") or over HTTP ("http-py")."""

    server: Server
    model: str
    payload: Payload
    case: Case
    tool: str = "wrk"

    @property
    def label(self) -> str:
        return f"{self.server.label} {self.model} {self.payload.path.name} {self.tool}"

    def run(self, concurrency: int, duration: int, threads: int) -> WrkResult:
        if self.tool == "wrk":
            return run_wrk(self.server.infer_url(self.model), self.payload, concurrency, duration, threads)
        if self.tool == "grpc-h2load":
            body, message_bytes = grpc_wire(self.server, self.model, self.payload)
            return run_h2load(self.server.grpc_target, body, message_bytes, concurrency, duration, threads)
        return py_load(self.tool, self.server, self.model, self.payload, concurrency, duration, threads)


def measure_cell(contenders: dict[str, Contender | None], concurrency: int, threads: int, args, reference) -> dict:
    """One cell: each contender's answer checked, then args.rounds runs each, taking turns (in
    reverse order every other round) so a noisy machine's drift falls on all of them alike; the
    first round of each starts with a warm-up run."""
    outcomes: dict[str, dict | None] = {}
    runs: dict[str, list[WrkResult]] = {}
    for name, contender in contenders.items():
        if contender is None:
            outcomes[name] = None
            continue
        problem = check_answer(contender, reference)
        if problem is None:
            runs[name] = []
        else:
            progress(f"{contender.label}: {problem[:120]}")
            outcomes[name] = not_measured("error", problem)
    for round_number in range(args.rounds):
        order = list(runs.items())
        for name, results in order if round_number % 2 == 0 else reversed(order):  # A B C, C B A, ...
            contender = contenders[name]
            if round_number == 0:
                contender.run(concurrency, WARM_UP_S, threads)
                contender.server.wait_idle()
            server_cpu_s = contender.server.cpu_seconds()
            results.append(contender.run(concurrency, args.duration, threads))
            results[-1].server_cpu_s = contender.server.cpu_seconds() - server_cpu_s
            contender.server.wait_idle()
            last = results[-1]
            problems = f" ({', '.join(last.problems)})" if last.problems else ""
            progress(
                f"{contender.label} c{concurrency} t{threads} round {round_number + 1}/{args.rounds}: "
                f"{last.requests_per_second:,.0f} req/s, p50 {last.p50_ms:.2f} ms, p99 {last.p99_ms:.2f} ms{problems}"
            )
    outcomes.update({name: measured(results) for name, results in runs.items()})
    return {name: outcomes[name] for name in contenders}


def check_answer(contender: Contender, reference: dict[str, list[float]]) -> str | None:
    """None when the model is ready and its answer equals the in-process forward bit for bit."""
    reason = unavailable_reason(contender.server, contender.model)
    if reason:
        return f"unavailable: {reason}"
    expected = reference[contender.server.kind][f"{contender.model}/{contender.case.id}"]
    if contender.tool.startswith("grpc"):
        answer = grpc_answer(contender.server, contender.model, contender.payload)
        return answer.get("error") or compare(expected, answer["output"])
    return check_http(contender.server.infer_url(contender.model), contender.payload, expected)


def unavailable_reason(server: Server, model: str) -> str | None:
    entry = server.models().get(model)
    if entry is None:
        return f"model {model!r} is not listed by the server"
    if entry["state"] != "READY":
        return f"{entry['state']}: {entry.get('reason') or 'no reason given'}"
    return None


def implementation_differences(ours: dict, plain: dict) -> dict:
    """How far layerserve's in-process answers are from the plain Sequential's, case by case."""
    differences = {}
    for key, values in ours.items():
        a, b = np.asarray(values, dtype=np.float32), np.asarray(plain[key], dtype=np.float32)
        differences[key] = {
            "differing_values": int(np.count_nonzero(a.view(np.uint32) != b.view(np.uint32))),
            "values": int(a.size),
            "largest_difference": float(np.max(np.abs(a - b))),
        }
    return differences


def thread_counts(concurrency: int, args) -> list[int]:
    """wrk needs a connection per thread: at c=1 only -t1 runs."""
    return sorted({min(threads, concurrency) for threads in args.wrk_threads})


def child_json(module: str, *arguments: str) -> dict:
    """In a child process, so the harness never maps torch: its pages would lower the servers' PSS."""
    command = [sys.executable, "-m", module, *arguments]
    completed = subprocess.run(command, cwd=servers.ROOT, capture_output=True, text=True, timeout=600)
    if completed.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{completed.stderr}")
    return json.loads(completed.stdout)


def measure_throughput(args, cases, payloads, forward, running: "Running", reference) -> list[dict]:
    rows = []
    for case in cases:
        for concurrency in args.concurrency or case.concurrency:
            for threads in thread_counts(concurrency, args):
                contenders = {
                    "plain": Contender(running.plain, case.model, payloads[case.id], case),
                    "layerserve": Contender(running.layerserve, case.model, payloads[case.id], case),
                    "layerserve binary": case.binary
                    and Contender(running.layerserve, case.model, payloads[case.id + ".bin"], case)
                    or None,
                    "naive": running.naive and Contender(running.naive, case.model, payloads[case.id], case),
                }
                cell = measure_cell(contenders, concurrency, threads, args, reference)
                rows.append(
                    {
                        "case": case.id,
                        "concurrency": concurrency,
                        "threads": threads,
                        "contenders": cell,
                        "forward_per_s": forward[case.id],
                    }
                )
    return rows


def measure_batching(args, payloads, running: "Running", reference) -> list[dict]:
    off_model, on_model = BATCHING_MODELS
    case = next(c for c in CASES if c.id == BATCHING_CASE_ID)
    payload = payloads[case.id]
    rows = []
    for concurrency in BATCHING_CONCURRENCY:
        for threads in thread_counts(concurrency, args):
            contenders = {
                "plain": Contender(running.plain, off_model, payload, case),
                "off": Contender(running.layerserve, off_model, payload, case),
                "on": Contender(running.layerserve, on_model, payload, case),
            }
            cell = measure_cell(contenders, concurrency, threads, args, reference)
            rows.append({"case": case.id, "concurrency": concurrency, "threads": threads, "contenders": cell})
    return rows


def measure_grpc(args, payloads, running: "Running", reference) -> list[dict]:
    """gRPC against HTTP on the same server, each load generator at the same connections and threads."""
    rows = []
    for case_id, http_kind in GRPC_CASES.items():
        case = next(c for c in CASES if c.id == case_id)
        http_payload = payloads[case.id + (".bin" if http_kind == "binary" else "")]
        for threads in thread_counts(16, args):
            contenders = {
                # each pair compared runs back to back: A B C D, then D C B A
                "http wrk": Contender(running.layerserve, case.model, http_payload, case),
                "grpc h2load": Contender(running.layerserve, case.model, http_payload, case, "grpc-h2load"),
                "http py": Contender(running.layerserve, case.model, http_payload, case, "http-py"),
                "grpc py": Contender(running.layerserve, case.model, http_payload, case, "grpc"),
            }
            cell = measure_cell(contenders, 16, threads, args, reference)
            rows.append({"case": case.id, "http": http_kind, "concurrency": 16, "threads": threads, "contenders": cell})
    return rows


def measure_slow_clients(args, log_dir: Path, weights_dir: Path) -> list[dict]:
    """A good client beside hostile sockets, on a fresh server each time (the plain app included:
    its sync workers are what a thread-per-connection server does under this)."""
    rows = []
    for hostile in args.hostile:
        for label in ("layerserve", "plain"):
            name = f"slow-{hostile}"
            start = servers.layerserve(2, log_dir, name) if label == "layerserve" else None
            with start or servers.plain(log_dir, name, weights_dir) as server:
                port = int(server.url.rsplit(":", 1)[1])
                result = siege("127.0.0.1", port, hostile, SIEGE_S, model="tiny")
            progress(f"slow clients, {label}: {result.summary()}")
            rows.append({"server": label, **result.to_json()})
    return rows


def measure_memory(args, payloads, log_dir: Path, weights_dir: Path) -> list[dict]:
    """One server at a time: trees running side by side would share library pages and split their PSS."""
    candidates = [
        ("layerserve 1 worker", lambda: servers.layerserve(1, log_dir, "memory")),
        ("layerserve 2 workers", lambda: servers.layerserve(2, log_dir, "memory")),
        ("layerserve 4 workers", lambda: servers.layerserve(4, log_dir, "memory")),
        ("layerserve 2 workers, gRPC on", lambda: servers.layerserve(2, log_dir, "memory-grpc", grpc=True)),
        ("plain 2 workers", lambda: servers.plain(log_dir, "memory", weights_dir)),
    ]
    if not args.skip_naive:
        candidates.append(("naive 2 workers", lambda: servers.naive(log_dir, "memory")))
    return [memory_of(label, start, payloads) for label, start in candidates]


def memory_of(label: str, start, payloads: dict[str, Payload]) -> dict:
    with start() as server:
        ready = [name for name, entry in server.models().items() if entry["state"] == "READY"]
        failed = exercise(server, {m: [payloads[c.id] for c in cases_for_model(m)] for m in ready})
        processes = tree_memory(server)
    pss_total = sum(p.pss_bytes for p in processes)
    progress(f"memory {label}: {len(processes)} processes, PSS total {pss_total / 2**20:,.0f} MiB")
    return {
        "server": label,
        "processes": [vars(p) for p in processes],
        "pss_total": pss_total,
        "uss_total": sum(p.uss_bytes for p in processes),
        "failed_requests": failed,
    }


def write_results(results: dict, text: str, run_id: str) -> list[Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    paths = [RESULTS_DIR / f"{run_id}.json", RESULTS_DIR / f"{run_id}.md", RESULTS_DIR / "latest.md"]
    paths[0].write_text(json.dumps(results, indent=2) + "\n")
    paths[1].write_text(text)
    paths[2].write_text(text)
    return paths


@dataclass
class Running:
    layerserve: Server
    plain: Server
    naive: Server | None


def run(args: argparse.Namespace, results: dict, log_dir: Path) -> None:
    cases = select_cases(args.cases)
    with tempfile.TemporaryDirectory(prefix="layerserve-bench-") as tmp:
        directory = Path(tmp)
        payloads = {}
        for case in CASES:
            payloads[case.id] = write_json_payload(case, directory)
            payloads[case.id + ".bin"] = write_binary_payload(case, directory)
        progress("the plain app's weights; each server's in-process forward pass")
        weights = directory / "weights"
        child_json("bench.reference", "weights", str(weights))
        reference = {"plain": child_json("bench.reference", "plain", str(weights))}
        reference["layerserve"] = child_json("bench.reference", "layerserve")
        if not args.skip_naive:
            reference["naive"] = child_json("bench.reference", "naive")
        results["implementations"] = implementation_differences(reference["layerserve"], reference["plain"])
        progress("forward-only: " + ", ".join(c.id for c in cases))
        forward = child_json("bench.forward", *(c.id for c in cases))
        with ExitStack() as stack:
            layerserve = stack.enter_context(servers.layerserve(2, log_dir, "throughput", grpc=not args.skip_grpc))
            running = Running(
                layerserve=layerserve,
                plain=stack.enter_context(servers.plain(log_dir, "throughput", directory / "weights")),
                naive=None if args.skip_naive else stack.enter_context(servers.naive(log_dir, "throughput")),
            )
            results["throughput"] = measure_throughput(args, cases, payloads, forward, running, reference)
            if not args.skip_batching and any(c.id == BATCHING_CASE_ID for c in cases):
                results["batching"] = measure_batching(args, payloads, running, reference)
            if not args.skip_grpc:
                results["grpc"] = measure_grpc(args, payloads, running, reference)
        if not args.skip_slow_clients:
            results["slow_clients"] = measure_slow_clients(args, log_dir, directory / "weights")
        if not args.skip_memory:
            results["memory"] = measure_memory(args, payloads, log_dir, directory / "weights")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    now = datetime.now(UTC)
    run_id = now.strftime("%Y%m%dT%H%M%SZ")
    results = {
        "date": now.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": report.machine_info(),
        "options": {**vars(args), "warm_up_s": WARM_UP_S},
    }
    print(report.header(results) + "\n", flush=True)
    run(args, results, RESULTS_DIR / "logs" / run_id)
    results["runtime_s"] = time.monotonic() - STARTED
    text = report.markdown(results)
    print(text)
    for path in write_results(results, text, run_id):
        print(f"wrote {path.relative_to(servers.ROOT)}")


if __name__ == "__main__":
    main()
