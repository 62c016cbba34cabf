"""The targets a run is judged against, each met only if it holds in every round."""

# Dynamic batching is held against the best peer measured with the same model and load
# (wide, batch 1, 16 rows / 5 ms): MLServer at c=16 (best round 483 req/s), TorchServe at c=32
# (761 req/s); the target is 1.5× that (rounded up), with a p99 of at most 90 ms at c=32.
BATCHING_TARGETS = {16: (725, None), 32: (1142, 90.0)}
SMALL_CASES = ("tiny-b1", "mlp-b1")
SMALL_RATIO = 1.5
WIDE_JSON_CASE, WIDE_JSON_RATIO = "wide-b32", 2.5
MEMORY_SCALING = 1.6


def rounds(outcome: dict | None) -> list[dict]:
    """Every round of a clean measurement; none for a flagged or missing one."""
    if not outcome or outcome["status"] != "ok":
        return []
    return outcome["wrk"]["rounds"]


def round_ratios(numerator: dict | None, denominator: dict | None) -> list[float]:
    """The ratio of each round's pair of runs, which ran back to back."""
    pairs = zip(rounds(numerator), rounds(denominator))
    return [a["requests_per_second"] / b["requests_per_second"] for a, b in pairs if b["requests_per_second"]]


def _ratios_text(ratios: list[float]) -> str:
    return ", ".join(f"{r:.2f}×" for r in ratios) or "not measured"


# gRPC and HTTP, each pair measured with load generators of one kind: in C (h2load, wrk), in Python
GRPC_PAIRS = (("grpc h2load", "http wrk", "h2load vs wrk"), ("grpc py", "http py", "py vs py"))
SLOW_CLIENTS_SHARE = 0.95  # a good client's requests answered within 1 s beside the hostile sockets


def judge(results: dict) -> list[dict]:
    """[{target, row, figures, met}] for every row a target speaks of."""
    verdicts = []
    for row in results.get("throughput", []):
        plain, ours = row["contenders"]["plain"], row["contenders"]["layerserve"]
        cell = f"{row['case']} c={row['concurrency']} wrk -t{row['threads']}"
        ratios = round_ratios(ours, plain)
        if row["case"] in SMALL_CASES:
            p99s = [(a["p99_ms"], b["p99_ms"]) for a, b in zip(rounds(ours), rounds(plain))]
            met = bool(ratios) and min(ratios) >= SMALL_RATIO and all(a <= b for a, b in p99s)
            figures = f"{_ratios_text(ratios)}; p99 " + ", ".join(f"{a:.1f} vs {b:.1f}" for a, b in p99s)
            verdicts.append(_verdict(f"≥ {SMALL_RATIO}× plain, p99 ≤ plain's", cell, figures, met))
        if row["case"] == WIDE_JSON_CASE:
            met = bool(ratios) and min(ratios) >= WIDE_JSON_RATIO
            verdicts.append(_verdict(f"JSON ≥ {WIDE_JSON_RATIO}× plain", cell, _ratios_text(ratios), met))
    for row in results.get("batching", []):
        floor, p99_limit = BATCHING_TARGETS[row["concurrency"]]
        on = rounds(row["contenders"]["on"])
        met = bool(on) and all(r["requests_per_second"] >= floor for r in on)
        met = met and (p99_limit is None or all(r["p99_ms"] <= p99_limit for r in on))
        figures = ", ".join(f"{r['requests_per_second']:,.0f} req/s p99 {r['p99_ms']:.1f}" for r in on)
        goal = f"≥ {floor:,.0f} req/s" + (f", p99 ≤ {p99_limit:.0f} ms" if p99_limit else "")
        cell = f"wide-b1 batching on, c={row['concurrency']} -t{row['threads']}"
        verdicts.append(_verdict(goal, cell, figures or "not measured", met))
    for row in results.get("grpc", []):
        for grpc, http, generators in GRPC_PAIRS:
            ratios = round_ratios(row["contenders"].get(grpc), row["contenders"][http])
            met = bool(ratios) and min(ratios) >= 1.0
            cell = f"{row['case']} gRPC vs HTTP {row['http']} ({generators}), c=16 -t{row['threads']}"
            verdicts.append(_verdict("gRPC ≥ HTTP", cell, _ratios_text(ratios), met))
    for row in results.get("slow_clients", []):
        if row["server"] == "layerserve":
            figures = f"{row['good']} / {row['asked']} ({row['good_share']:.1%}), p99 {row['p99_ms']:.1f} ms"
            met = row["good_share"] >= SLOW_CLIENTS_SHARE
            cell = f"slow clients, {row['hostile']} hostile sockets"
            verdicts.append(_verdict(f"≥ {SLOW_CLIENTS_SHARE:.0%} good answers within 1 s", cell, figures, met))
    verdicts += _memory_verdicts(results.get("memory"))
    return verdicts


def _memory_verdicts(memory: list[dict] | None) -> list[dict]:
    if not memory:
        return []
    pss = {m["server"]: m["pss_total"] / 2**20 for m in memory}
    verdicts = []
    if "layerserve 4 workers" in pss and "layerserve 1 worker" in pss:
        scaling = pss["layerserve 4 workers"] / pss["layerserve 1 worker"]
        figures = f"{pss['layerserve 4 workers']:,.0f} / {pss['layerserve 1 worker']:,.0f} MiB = {scaling:.2f}×"
        verdicts.append(_verdict(f"4 workers ≤ {MEMORY_SCALING}× 1 worker", "memory", figures, scaling <= 1.6))
    for label in ("layerserve 2 workers", "layerserve 2 workers, gRPC on"):
        if label in pss and "plain 2 workers" in pss:
            ours, theirs = pss[label], pss["plain 2 workers"]
            figures = f"{ours:,.0f} vs {theirs:,.0f} MiB PSS"
            row = "memory" + label.removeprefix("layerserve 2 workers")
            verdicts.append(_verdict("2 workers below the plain app's 2", row, figures, ours < theirs))
    return verdicts


def _verdict(target: str, row: str, figures: str, met: bool) -> dict:
    return {"target": target, "row": row, "figures": figures, "met": met}
