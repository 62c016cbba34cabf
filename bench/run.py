"""`make bench`: layerserve against a plain Flask app and against its bare forward pass; see bench/README.md."""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import requests

from . import report, servers
from .binary import check_binary
from .cases import (
    BATCHING_CASE_ID,
    BATCHING_CONCURRENCY,
    BATCHING_MODELS,
    CASES,
    Case,
    Payload,
    cases_for_model,
    select_cases,
    write_binary_payload,
    write_json_payload,
)
from .memory import exercise, tree_memory
from .servers import Server
from .wrk import WrkResult, run_wrk

RESULTS_DIR = Path(__file__).with_name("results")
WARM_UP_S = 1
DETAIL_CHARS = 200
STARTED = time.monotonic()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--duration", type=_positive_int, default=3, help="seconds per measured wrk run (default 3)")
    parser.add_argument(
        "--rounds",
        type=_positive_int,
        default=3,
        help="wrk runs per measurement, the servers compared taking turns; medians are reported (default 3)",
    )
    parser.add_argument(
        "--cases", type=_names, help=f"comma-separated case ids or model names (default all: {_case_ids()})"
    )
    parser.add_argument(
        "--concurrency", type=_concurrencies, default=[1, 16], help="comma-separated connection counts (default 1,16)"
    )
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory measurements")
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive Flask baseline")
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _concurrencies(text: str) -> list[int]:
    return [_positive_int(n) for n in _names(text)]


def _case_ids() -> str:
    return ", ".join(c.id for c in CASES)


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f}s] {message}", file=sys.stderr, flush=True)


# Outcomes: what one server did with one kind of request, as JSON-ready dicts.


def measured(results: list[WrkResult]) -> dict:
    """The rounds of one measurement: medians of req/s, p50 and p99; every round's numbers kept."""
    problems = [problem for result in results for problem in result.problems]
    return {
        "status": "flagged" if problems else "ok",
        "detail": ", ".join(dict.fromkeys(problems)),
        "wrk": {
            "requests_per_second": statistics.median(r.requests_per_second for r in results),
            "p50_ms": statistics.median(r.p50_ms for r in results),
            "p99_ms": statistics.median(r.p99_ms for r in results),
            "rounds": [r.to_json() for r in results],
        },
    }


def not_measured(status: str, detail: str) -> dict:
    return {"status": status, "detail": " ".join(detail.split())[:DETAIL_CHARS]}


def clean_rps(outcome: dict | None) -> float | None:
    """req/s of a measurement without errors; flagged or missing ones give no number to compare."""
    if outcome is None or outcome["status"] != "ok":
        return None
    return outcome["wrk"]["requests_per_second"]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def round_ratios(numerator: dict | None, denominator: dict | None) -> list[float]:
    """The ratio of each round's pair of runs, which ran back to back."""
    if clean_rps(numerator) is None or clean_rps(denominator) is None:
        return []
    pairs = zip(numerator["wrk"]["rounds"], denominator["wrk"]["rounds"], strict=True)
    return [a["requests_per_second"] / b["requests_per_second"] for a, b in pairs if b["requests_per_second"]]


# Measuring.

Contender = tuple[Server, str, Payload]  # who answers, which model, what request


def measure_turns(contenders: dict[str, Contender | None], concurrency: int, args) -> dict[str, dict | None]:
    """Each contender measured args.rounds times, taking turns (in reverse order every other
    round), so a noisy machine's drift falls on all of them alike; the first round of each
    starts with a warm-up run."""
    outcomes: dict[str, dict | None] = {}
    runs: dict[str, list[WrkResult]] = {}
    for name, contender in contenders.items():
        if contender is None:
            outcomes[name] = None
            continue
        problem = check_ready(*contender, concurrency)
        if problem is None:
            runs[name] = []
        else:
            outcomes[name] = problem
    for round_number in range(args.rounds):
        order = list(runs.items())
        for name, results in order if round_number % 2 == 0 else reversed(order):  # A B, B A, A B, ...
            server, model, payload = contenders[name]
            if round_number == 0:
                run_wrk(server.infer_url(model), payload, concurrency, WARM_UP_S)
            results.append(run_wrk(server.infer_url(model), payload, concurrency, args.duration))
            last = results[-1]
            problems = f" ({', '.join(last.problems)})" if last.problems else ""
            progress(
                f"{_label(server, model, payload, concurrency)} round {round_number + 1}/{args.rounds}: "
                f"{last.requests_per_second:,.0f} req/s, p50 {last.p50_ms:.2f} ms, p99 {last.p99_ms:.2f} ms{problems}"
            )
    outcomes.update({name: measured(results) for name, results in runs.items()})
    return {name: outcomes[name] for name in contenders}


def check_ready(server: Server, model: str, payload: Payload, concurrency: int) -> dict | None:
    """None when the model is ready and answers the request; otherwise the outcome saying why not."""
    label = _label(server, model, payload, concurrency)
    reason = unavailable_reason(server, model)
    if reason:
        progress(f"{label}: unavailable ({reason[:80]})")
        return not_measured("unavailable", reason)
    failure = preflight(server.infer_url(model), payload)
    if failure:
        progress(f"{label}: {failure[:80]}")
        return not_measured("error", failure)
    return None


def _label(server: Server, model: str, payload: Payload, concurrency: int) -> str:
    return f"{server.label} {model} {payload.path.name} c{concurrency}"


def unavailable_reason(server: Server, model: str) -> str | None:
    entry = server.models().get(model)
    if entry is None:
        return f"model {model!r} is not listed by the server"
    if entry["state"] != "READY":
        return f"{entry['state']}: {entry.get('reason') or 'no reason given'}"
    return None


def preflight(url: str, payload: Payload) -> str | None:
    response = requests.post(url, data=payload.body(), headers=payload.headers(), timeout=60)
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text.strip()}"
    return None


def forward_only(cases: list[Case]) -> dict[str, float]:
    """In a child process, so the harness never maps torch: its pages would lower the servers' PSS."""
    progress("forward-only: " + ", ".join(c.id for c in cases))
    command = [sys.executable, "-m", "bench.forward", *(c.id for c in cases)]
    completed = subprocess.run(command, cwd=servers.ROOT, capture_output=True, text=True, timeout=300)
    if completed.returncode != 0:
        raise RuntimeError(f"forward-only timing failed:\n{completed.stderr}")
    return json.loads(completed.stdout)


def measure_throughput(args, cases, payloads, forward, served: Server, naive: Server | None) -> list[dict]:
    rows = []
    for case in cases:
        for concurrency in args.concurrency:
            contenders = {"layerserve": (served, case.model, payloads[case.id])}
            contenders["naive"] = naive and (naive, case.model, payloads[case.id])
            turns = measure_turns(contenders, concurrency, args)
            ours, theirs = turns["layerserve"], turns["naive"]
            rows.append(
                {
                    "case": case.id,
                    "model": case.model,
                    "batch": case.batch,
                    "concurrency": concurrency,
                    "layerserve": ours,
                    "naive": theirs,
                    "forward_per_s": forward[case.id],
                    "ratios": {
                        "layerserve/naive": ratio(clean_rps(ours), clean_rps(theirs)),
                        "layerserve/naive per round": round_ratios(ours, theirs),
                        "layerserve/forward": ratio(clean_rps(ours), forward[case.id]),
                    },
                }
            )
    return rows


def measure_binary(args, cases, payloads, served: Server, directory: Path) -> list[dict]:
    """JSON and binary bodies of the same batch, taking turns on the same server."""
    rows = []
    for case in (c for c in cases if c.binary):
        status, detail, binary_payload = prepare_binary(served, case, payloads[case.id], directory)
        for concurrency in args.concurrency:
            json_contender = (served, case.model, payloads[case.id])
            if status == "ok":
                turns = measure_turns(
                    {"json": json_contender, "binary": (served, case.model, binary_payload)}, concurrency, args
                )
            else:
                turns = {
                    **measure_turns({"json": json_contender}, concurrency, args),
                    "binary": not_measured(status, detail),
                }
            rows.append(
                {
                    "case": case.id,
                    "concurrency": concurrency,
                    "json": turns["json"],
                    "binary": turns["binary"],
                    "ratio": ratio(clean_rps(turns["binary"]), clean_rps(turns["json"])),
                    "ratio per round": round_ratios(turns["binary"], turns["json"]),
                }
            )
    return rows


def prepare_binary(served: Server, case: Case, json_payload: Payload, directory: Path):
    """(status, detail, payload): the binary body, once it is known to answer like the JSON one."""
    reason = unavailable_reason(served, case.model)
    if reason:
        return "unavailable", reason, None
    payload = write_binary_payload(case, served.output_name(case.model), directory)
    status, detail = check_binary(served.infer_url(case.model), json_payload, payload, served.output_name(case.model))
    progress(f"binary check {case.id}: {status} {detail[:80]}")
    return status, detail, payload


def measure_batching(args, payloads, served: Server) -> dict:
    off_model, on_model = BATCHING_MODELS
    payload = payloads[BATCHING_CASE_ID]
    turns = measure_turns(
        {"off": (served, off_model, payload), "on": (served, on_model, payload)}, BATCHING_CONCURRENCY, args
    )
    off, on = turns["off"], turns["on"]
    return {
        "case": BATCHING_CASE_ID,
        "concurrency": BATCHING_CONCURRENCY,
        "off": off,
        "on": on,
        "ratio": ratio(clean_rps(on), clean_rps(off)),
        "ratio per round": round_ratios(on, off),
    }


def measure_memory(args, payloads, log_dir: Path) -> tuple[list[dict], dict]:
    """One server at a time: trees running side by side would share library pages and split their PSS."""
    candidates = [
        ("layerserve 1 worker", lambda: servers.layerserve(1, log_dir, "memory")),
        ("layerserve 4 workers", lambda: servers.layerserve(4, log_dir, "memory")),
    ]
    if not args.skip_naive:
        candidates.append(("naive 2 workers", lambda: servers.naive(log_dir, "memory")))
    results = [memory_of(label, start, payloads) for label, start in candidates]
    totals = {r["server"]: r["pss_total"] for r in results}
    ratios = {
        "layerserve PSS total: 4 workers / 1 worker": ratio(
            totals["layerserve 4 workers"], totals["layerserve 1 worker"]
        ),
        "PSS total: layerserve 4 workers / naive 2 workers": ratio(
            totals["layerserve 4 workers"], totals.get("naive 2 workers")
        ),
    }
    return results, ratios


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


def run(args: argparse.Namespace, results: dict, log_dir: Path) -> None:
    cases = select_cases(args.cases)
    with tempfile.TemporaryDirectory(prefix="layerserve-bench-") as tmp:
        directory = Path(tmp)
        payloads = {case.id: write_json_payload(case, directory) for case in CASES}
        forward = forward_only(cases)
        with ExitStack() as running:
            served = running.enter_context(servers.layerserve(2, log_dir, "throughput"))
            naive = None if args.skip_naive else running.enter_context(servers.naive(log_dir, "throughput"))
            results["throughput"] = measure_throughput(args, cases, payloads, forward, served, naive)
            results["binary"] = measure_binary(args, cases, payloads, served, directory)
            if any(c.id == BATCHING_CASE_ID for c in cases):
                results["batching"] = measure_batching(args, payloads, served)
        if not args.skip_memory:
            results["memory"], results["memory_ratios"] = measure_memory(args, payloads, log_dir)


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
