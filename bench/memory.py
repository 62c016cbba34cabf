"""Memory of a server's process tree (PSS and USS per process) after it has served some requests."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import cycle, islice

import psutil
import requests

from .cases import Payload
from .servers import Server

REQUESTS_PER_MODEL = 200
CLIENT_THREADS = 8
MIB = 1024 * 1024


@dataclass
class ProcessMemory:
    role: str
    pid: int
    pss_bytes: int
    uss_bytes: int


def exercise(server: Server, payloads_by_model: dict[str, list[Payload]]) -> dict[str, int]:
    """REQUESTS_PER_MODEL requests to each model, each on a fresh connection so every worker gets some.

    Returns how many requests failed, by model.
    """
    failures = {}
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        for model, payloads in payloads_by_model.items():
            url = server.infer_url(model)
            statuses = pool.map(lambda p, url=url: _post(url, p), islice(cycle(payloads), REQUESTS_PER_MODEL))
            failures[model] = sum(status != 200 for status in statuses)
    return failures


def _post(url: str, payload: Payload) -> int:
    headers = {**payload.headers(), "Connection": "close"}
    try:
        return requests.post(url, data=payload.body(), headers=headers, timeout=60).status_code
    except requests.RequestException:
        return 0


def tree_memory(server: Server) -> list[ProcessMemory]:
    processes = server.processes()
    return [_memory(p, "master" if i == 0 else "worker") for i, p in enumerate(processes)]


def _memory(process: psutil.Process, role: str) -> ProcessMemory:
    info = process.memory_full_info()
    return ProcessMemory(role, process.pid, info.pss, info.uss)
