"""The machine description and the markdown tables of a benchmark run."""

import importlib.metadata
import os
import platform
import statistics
import subprocess
from pathlib import Path

from .targets import judge, round_ratios

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def machine_info() -> dict:
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(_meminfo_kib("MemTotal") / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "torch": importlib.metadata.version("torch"),
        "wrk": _first_line(["wrk", "-v"], any_exit_status=True).split(" Copyright")[0],  # wrk -v exits with 1
        "commit": _commit(),
        "load": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _meminfo_kib(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def _first_line(command: list[str], any_exit_status: bool = False) -> str:
    """The first line the command prints ("" for none), or "unknown" if it cannot run or fails."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if completed.returncode != 0 and not any_exit_status:
        return "unknown"
    lines = (completed.stdout or completed.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _commit() -> str:
    commit = _first_line(["git", "rev-parse", "--short", "HEAD"])
    # --no-optional-locks: read only; others may be using the repository concurrently.
    changes = _first_line(["git", "--no-optional-locks", "status", "--porcelain", "--", "service", "bench"])
    return commit if changes in ("", "unknown") else f"{commit} + uncommitted changes"


def header(results: dict) -> str:
    machine = results["machine"]
    options = results["options"]
    lines = [
        f"# layerserve benchmark, {results['date']}",
        "",
        f"- machine: {machine['cpu']}, {machine['usable_cpus']} usable of {machine['logical_cpus']} logical CPUs, "
        f"{machine['memory_gib']} GiB, Linux {machine['kernel']}; load average at the start {machine.get('load', '?')}",
        f"- software: Python {machine['python']}, torch {machine['torch']}, {machine['wrk']}",
        f"- code: {machine['commit']}",
        f"- cells: {options.get('rounds', 1)} rounds of {options['duration']} s per contender, the contenders of a "
        f"cell taking turns, in reverse order every other round ({options.get('warm_up_s', 1)} s warm-up before "
        "the first); req/s, p50 and p99 are medians of the rounds; a ratio is the median of the per-round ratios, "
        "with its lowest and highest round in parentheses; every round is listed at the end",
        "- every answer was checked bit for bit against the in-process forward pass before its cell ran",
        "- servers: plain = torch.nn.Sequential, json, flask.Response, gunicorn 2 sync workers; layerserve = "
        "`layerserve serve`, 2 workers; naive = layerserve's LayerStack under jsonify, 2 sync workers; "
        "1 torch thread per worker everywhere",
    ]
    differences = results.get("implementations")
    if differences:
        identical = sum(d["differing_values"] == 0 for d in differences.values())
        largest = max(d["largest_difference"] for d in differences.values())
        lines.append(
            f"- layerserve's and the plain app's in-process answers have identical bits in {identical} of "
            f"{len(differences)} model/case pairs; the largest difference is {largest:.3g}"
        )
    return "\n".join(lines)


def markdown(results: dict) -> str:
    sections = [header(results), targets_table(judge(results)), throughput_table(results["throughput"])]
    if any(row["contenders"].get("layerserve binary") for row in results["throughput"]):
        sections.append(binary_table(results["throughput"]))
    if results.get("batching"):
        sections.append(batching_table(results["batching"]))
    if results.get("grpc"):
        sections.append(grpc_table(results["grpc"]))
    if results.get("slow_clients"):
        sections.append(slow_clients_table(results["slow_clients"]))
    if results.get("memory"):
        sections.append(memory_tables(results["memory"]))
    sections.append(rounds_table(results))
    sections.append(f"Total runtime: {results['runtime_s']:.0f} s")
    return "\n\n".join(sections) + "\n"


def targets_table(verdicts: list[dict]) -> str:
    lines = [
        "## Targets (met only if every round meets them)",
        "",
        "| row | target | every round | met |",
        "|---|---|---|:-:|",
    ]
    lines += [_row(v["row"], v["target"], v["figures"], "✓" if v["met"] else "✗") for v in verdicts]
    return "\n".join(lines)


def throughput_table(rows: list[dict]) -> str:
    lines = [
        "## Throughput: JSON over HTTP (wrk)",
        "",
        "req/s and latency (ms); forward-only is forwards/s of the same batch through layerserve's stack in one "
        "process on one thread.",
        "",
        "| case | c | wrk -t | plain req/s | p50 | p99 | layerserve req/s | p50 | p99 | layerserve/plain "
        "| naive req/s | naive/plain | forward-only /s | notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        cell = row["contenders"]
        plain, ours, naive = cell["plain"], cell["layerserve"], cell.get("naive")
        lines.append(
            _row(
                row["case"],
                row["concurrency"],
                row["threads"],
                *_outcome_cells(plain),
                *_outcome_cells(ours),
                _ratio(round_ratios(ours, plain)),
                _outcome_cells(naive)[0],
                _ratio(round_ratios(naive, plain)),
                _number(row["forward_per_s"]),
                _notes(plain=plain, layerserve=ours, naive=naive),
            )
        )
    return "\n".join(lines) + "\n\n" + throughput_cpu_table(rows)


def throughput_cpu_table(rows: list[dict]) -> str:
    names = ["plain", "layerserve", "layerserve binary", "naive"]
    lines = [
        "### Server CPU time per request in those runs (µs, medians over the rounds)",
        "",
        "Each server tree's user + system time over a run, per answered request (wrk's own time not included).",
        "",
        "| case | c | wrk -t | " + " | ".join(names) + " |",
        "|---|--:|--:|" + "--:|" * len(names),
    ]
    for row in rows:
        cells = [_number(_cpu(row["contenders"].get(name), "server_cpu_us")) for name in names]
        lines.append(_row(row["case"], row["concurrency"], row["threads"], *cells))
    return "\n".join(lines)


def binary_table(rows: list[dict]) -> str:
    lines = [
        "## Binary tensors over HTTP (layerserve), against JSON",
        "",
        "| case | c | wrk -t | plain JSON req/s | layerserve JSON req/s | binary req/s | binary p50 | binary p99 "
        "| binary/plain | binary/JSON | notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        cell = row["contenders"]
        binary = cell.get("layerserve binary")
        if binary is None:
            continue
        lines.append(
            _row(
                row["case"],
                row["concurrency"],
                row["threads"],
                _outcome_cells(cell["plain"])[0],
                _outcome_cells(cell["layerserve"])[0],
                *_outcome_cells(binary),
                _ratio(round_ratios(binary, cell["plain"])),
                _ratio(round_ratios(binary, cell["layerserve"])),
                _notes(binary=binary),
            )
        )
    return "\n".join(lines)


def batching_table(rows: list[dict]) -> str:
    lines = [
        "## Dynamic batching: wide, batch 1 (layerserve: wide off, wide_batched on; same server)",
        "",
        "| c | wrk -t | plain req/s | p99 | off req/s | p99 | on req/s | p50 | p99 | on/off | on/plain | notes |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        cell = row["contenders"]
        plain, off, on = cell["plain"], cell["off"], cell["on"]
        plain_cells, off_cells = _outcome_cells(plain), _outcome_cells(off)
        lines.append(
            _row(
                row["concurrency"],
                row["threads"],
                plain_cells[0],
                plain_cells[2],
                off_cells[0],
                off_cells[2],
                *_outcome_cells(on),
                _ratio(round_ratios(on, off)),
                _ratio(round_ratios(on, plain)),
                _notes(plain=plain, off=off, on=on),
            )
        )
    return "\n".join(lines)


def grpc_table(rows: list[dict]) -> str:
    lines = [
        "## gRPC against HTTP (layerserve, same server, c=16)",
        "",
        "Each protocol with a load generator of each kind: wrk (HTTP) and h2load (gRPC), both in C with one "
        "request in flight per connection; and bench/py_load.py (one asyncio process per thread) for both: "
        "ready-made HTTP/1.1 bytes on asyncio streams, grpcio's asyncio channel for gRPC. The clients' costs "
        "differ (the CPU table below gives them): grpcio spends about three times what the HTTP loop does.",
        "",
        "| case | HTTP body | threads | HTTP wrk req/s | p99 | gRPC h2load req/s | p50 | p99 | gRPC/HTTP (C) "
        "| HTTP py req/s | p99 | gRPC py req/s | p99 | gRPC/HTTP (py) | notes |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        cell = row["contenders"]
        wrk, h2load, py, grpc = cell["http wrk"], cell.get("grpc h2load"), cell["http py"], cell["grpc py"]
        wrk_cells, py_cells, grpc_cells = _outcome_cells(wrk), _outcome_cells(py), _outcome_cells(grpc)
        lines.append(
            _row(
                row["case"],
                row["http"],
                row["threads"],
                wrk_cells[0],
                wrk_cells[2],
                *_outcome_cells(h2load),
                _ratio(round_ratios(h2load, wrk)),
                py_cells[0],
                py_cells[2],
                grpc_cells[0],
                grpc_cells[2],
                _ratio(round_ratios(grpc, py)),
                _notes(http_wrk=wrk, grpc_h2load=h2load, http_py=py, grpc_py=grpc),
            )
        )
    return "\n".join(lines) + "\n\n" + grpc_cpu_table(rows)


def grpc_cpu_table(rows: list[dict]) -> str:
    """Where each call's CPU time went in the same runs: a measure the machine's drift moves less
    than req/s, since server and load generator share the CPUs."""
    lines = [
        "### CPU time per call in those runs (µs, medians over the rounds)",
        "",
        "server: the layerserve tree's user + system time over the run, per answered call; load "
        "generator: its own (all its threads and processes).",
        "",
        "| case | threads | contender | server | load generator | both |",
        "|---|--:|---|--:|--:|--:|",
    ]
    for row in rows:
        for name, outcome in row["contenders"].items():
            if not (outcome or {}).get("wrk"):
                continue
            server, client = _cpu(outcome, "server_cpu_us"), _cpu(outcome, "client_cpu_us")
            both = server + client if server is not None and client is not None else None
            lines.append(_row(row["case"], row["threads"], name, _number(server), _number(client), _number(both)))
    return "\n".join(lines)


def slow_clients_table(rows: list[dict]) -> str:
    lines = [
        "## Slow clients: a good client beside hostile sockets (half send one byte, half trickle a header)",
        "",
        "Health and a one-sample tiny infer, alternating, each on a new connection; good: 200 within 1 s. "
        "A fresh 2-worker server per row.",
        "",
        "| server | hostile sockets | seconds | good / asked | good share | p50 ms | p99 ms | hostile connections |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        lines.append(
            _row(
                row["server"],
                row["hostile"],
                f"{row['duration_s']:.0f}",
                f"{row['good']} / {row['asked']}",
                f"{row['good_share']:.1%}",
                _ms(row["p50_ms"]),
                _ms(row["p99_ms"]),
                row["hostile_connections"],
            )
        )
    return "\n".join(lines)


def memory_tables(servers: list[dict]) -> str:
    lines = [
        "## Memory after warm-up and ~200 requests per model",
        "",
        "| server | process | pid | PSS MiB | USS MiB |",
        "|---|---|--:|--:|--:|",
    ]
    for server in servers:
        for process in server["processes"]:
            lines.append(
                _row(
                    server["server"],
                    process["role"],
                    process["pid"],
                    _mib(process["pss_bytes"]),
                    _mib(process["uss_bytes"]),
                )
            )
        lines.append(_row(f"**{server['server']}**", "**tree total**", "", f"**{_mib(server['pss_total'])}**", ""))
    lines += ["", "| server | models | failed requests | PSS total MiB |", "|---|---|--:|--:|"]
    for server in servers:
        failed = sum(server["failed_requests"].values())
        lines.append(_row(server["server"], ", ".join(server["failed_requests"]), failed, _mib(server["pss_total"])))
    return "\n".join(lines)


def rounds_table(results: dict) -> str:
    lines = [
        "## Every round",
        "",
        "req/s, p50 / p99 ms of each contender in each round, in the order the cell ran them.",
        "",
        "| cell | contender | " + " | ".join(f"round {i + 1}" for i in range(results["options"]["rounds"])) + " |",
        "|---|---|" + "--:|" * results["options"]["rounds"],
    ]
    sections = [("", results.get("throughput", [])), ("batching ", results.get("batching", [])),
                ("gRPC ", results.get("grpc", []))]  # fmt: skip
    for prefix, rows in sections:
        for row in rows:
            cell = f"{prefix}{row['case']} c={row['concurrency']} -t{row['threads']}"
            for name, outcome in row["contenders"].items():
                if outcome is None:
                    continue
                runs = [
                    f"{r['requests_per_second']:,.0f}, {_ms(r['p50_ms'])} / {_ms(r['p99_ms'])}"
                    for r in outcome.get("wrk", {}).get("rounds", [])
                ]
                lines.append(_row(cell, name, *(runs or [outcome["status"]])))
    return "\n".join(lines)


def _outcome_cells(outcome: dict | None) -> list[str]:
    """req/s, p50, p99; a flagged measurement is marked, a missing one says why."""
    if outcome is None:
        return ["—", "—", "—"]
    wrk = outcome.get("wrk")
    if wrk is None:
        return [outcome["status"], "—", "—"]
    mark = " ⚠" if outcome["status"] != "ok" else ""
    return [f"{_number(wrk['requests_per_second'])}{mark}", _ms(wrk["p50_ms"]), _ms(wrk["p99_ms"])]


def _cpu(outcome: dict | None, key: str) -> float | None:
    return ((outcome or {}).get("wrk") or {}).get(key)


def _notes(**outcomes: dict | None) -> str:
    notes = []
    for name, outcome in outcomes.items():
        if outcome and outcome["status"] != "ok":
            detail = f": {outcome['detail']}" if outcome["detail"] else ""
            notes.append(f"{name.replace('_', ' ')} {outcome['status']}{detail}")
    return "; ".join(notes).replace("|", "\\|").replace("\n", " ")


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _ratio(per_round: list[float]) -> str:
    if not per_round:
        return "—"
    spread = f" ({min(per_round):.2f}–{max(per_round):.2f})" if len(per_round) > 1 else ""
    return f"{statistics.median(per_round):.2f}×{spread}"


def _mib(value: int) -> str:
    return f"{value / MIB:,.1f}"
