"""The machine description and the markdown tables of a benchmark run."""

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

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
        f"{machine['memory_gib']} GiB, Linux {machine['kernel']}",
        f"- software: Python {machine['python']}, torch {machine['torch']}, {machine['wrk']}",
        f"- code: {machine['commit']}",
        f"- runs: {options.get('rounds', 1)} rounds of {options['duration']} s per measurement, the servers "
        "compared taking turns, in reverse order every other round (a 1 s warm-up before the first); req/s, p50 and p99 are medians of the rounds, "
        "a ratio's range in parentheses is its lowest and highest round; wrk -t min(c, 4) -c c",
        "- servers: layerserve with 2 workers (gthread-based, service/server/worker.py), naive with 2 sync workers, "
        "1 torch thread per worker",
    ]
    return "\n".join(lines)


def markdown(results: dict) -> str:
    sections = [header(results), throughput_table(results["throughput"])]
    if results.get("binary"):
        sections.append(binary_table(results["binary"]))
    if results.get("batching"):
        sections.append(batching_table(results["batching"]))
    if results.get("memory"):
        sections.append(memory_tables(results["memory"], results["memory_ratios"]))
    sections.append(f"Total runtime: {results['runtime_s']:.0f} s")
    return "\n\n".join(sections) + "\n"


def throughput_table(rows: list[dict]) -> str:
    lines = [
        "## Throughput: JSON over HTTP",
        "",
        "req/s and latency (ms) from wrk; forward-only is forwards/s of the same batch in one process on one thread.",
        "",
        "| case | c | layerserve req/s | p50 | p99 | naive req/s | p50 | p99 | forward-only /s "
        "| layerserve/naive | layerserve/forward | notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        served, naive = row["layerserve"], row["naive"]
        lines.append(
            _row(
                row["case"],
                row["concurrency"],
                *_outcome_cells(served),
                *_outcome_cells(naive),
                _number(row["forward_per_s"]),
                _ratio(row["ratios"]["layerserve/naive"], row["ratios"].get("layerserve/naive per round")),
                _ratio(row["ratios"]["layerserve/forward"]),
                _notes(layerserve=served, naive=naive),
            )
        )
    return "\n".join(lines)


def binary_table(rows: list[dict]) -> str:
    lines = [
        "## JSON vs binary tensors (layerserve)",
        "",
        "| case | c | JSON req/s | binary req/s | binary p50 | binary p99 | binary/JSON | notes |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        binary = row["binary"]
        lines.append(
            _row(
                row["case"],
                row["concurrency"],
                _outcome_cells(row["json"])[0],
                *_outcome_cells(binary),
                _ratio(row["ratio"], row.get("ratio per round")),
                _notes(binary=binary),
            )
        )
    return "\n".join(lines)


def batching_table(batching: dict) -> str:
    off, on = batching["off"], batching["on"]
    lines = [
        "## Dynamic batching (layerserve, same server)",
        "",
        "| case | c | off (wide) req/s | p50 | p99 | on (wide_batched) req/s | p50 | p99 | on/off | notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
        _row(
            batching["case"],
            batching["concurrency"],
            *_outcome_cells(off),
            *_outcome_cells(on),
            _ratio(batching["ratio"], batching.get("ratio per round")),
            _notes(off=off, on=on),
        ),
    ]
    return "\n".join(lines)


def memory_tables(servers: list[dict], ratios: dict) -> str:
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
    lines += ["", "| ratio | value |", "|---|--:|"]
    lines += [_row(name, _ratio(value)) for name, value in ratios.items()]
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


def _notes(**outcomes: dict | None) -> str:
    notes = []
    for name, outcome in outcomes.items():
        if outcome and outcome["status"] != "ok":
            detail = f": {outcome['detail']}" if outcome["detail"] else ""
            notes.append(f"{name} {outcome['status']}{detail}")
    return "; ".join(notes).replace("|", "\\|").replace("\n", " ")


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _ratio(value: float | None, per_round: list[float] | None = None) -> str:
    if value is None:
        return "—"
    spread = f" ({min(per_round):.2f}–{max(per_round):.2f})" if per_round and len(per_round) > 1 else ""
    return f"{value:.2f}×{spread}"


def _mib(value: int) -> str:
    return f"{value / MIB:,.1f}"
