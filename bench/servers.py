"""Start, probe and stop the servers under test: layerserve (`layerserve serve`), the plain app, the naive app."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

from .cases import MODELS_DIR

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAIVE_CONFIG = Path(__file__).with_name("naive_gunicorn.conf.py")
PLAIN_CONFIG = Path(__file__).with_name("plain_gunicorn.conf.py")
READY_DEADLINE_S = 60.0
STOP_GRACE_S = 20.0
IDLE_DEADLINE_S = 10.0
IDLE_SAMPLE_S = 0.2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One gunicorn tree; a context manager that is ready on entry and fully stopped on exit."""

    def __init__(
        self, label: str, command: list[str], env: dict[str, str], port: int, log_path: Path, grpc_port: int = 0
    ):
        self.label = label
        self.grpc_target = f"127.0.0.1:{grpc_port}" if grpc_port else None
        self.command = command
        self.env = env
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def kind(self) -> str:
        """layerserve, plain or naive: whose in-process forward pass its answers must equal."""
        return self.label.split("-")[0]

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # A file, not a pipe: an unread pipe fills up and blocks the server.
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, then SIGKILL for the whole tree if it is still there after the grace period."""
        if self.process is None or self.process.poll() is not None:
            return
        tree = self.processes()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            for process in tree:
                _kill(process)
            self.process.wait()
        _, alive = psutil.wait_procs(tree[1:], timeout=5)
        for process in alive:
            _kill(process)

    def processes(self) -> list[psutil.Process]:
        """The master, then its workers."""
        master = psutil.Process(self.process.pid)
        return [master, *master.children(recursive=True)]

    def wait_idle(self, deadline_s: float = IDLE_DEADLINE_S) -> None:
        """Until the tree uses less than a tenth of a CPU: a load generator stops at its deadline,
        but the server still works through the requests it has queued, and that work must not
        fall into the next contender's run."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            before = self.cpu_seconds()
            time.sleep(IDLE_SAMPLE_S)
            if self.cpu_seconds() - before < 0.1 * IDLE_SAMPLE_S:
                return

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the tree has used so far."""
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def models(self) -> dict[str, dict]:
        """GET /v2/models by name: each entry has a state (READY, UNAVAILABLE, ...) and maybe a reason."""
        response = requests.get(f"{self.url}/v2/models", timeout=10)
        response.raise_for_status()
        return {m["name"]: m for m in response.json()["models"]}

    def output_name(self, model: str) -> str:
        response = requests.get(f"{self.url}/v2/models/{model}", timeout=10)
        response.raise_for_status()
        return response.json()["outputs"][0]["name"]

    def infer_url(self, model: str) -> str:
        return f"{self.url}/v2/models/{model}/infer"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_DEADLINE_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited with {self.process.returncode}; log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if requests.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.label} not ready within {READY_DEADLINE_S:.0f}s; log {self.log_path}:\n{self.log_tail()}"
        )


def _kill(process: psutil.Process) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        process.kill()


def layerserve(workers: int, log_dir: Path, phase: str, grpc: bool = False) -> Server:
    """Started as the container and the integration tests start it: the `layerserve serve` console script."""
    port, grpc_port = free_port(), free_port() if grpc else 0
    env = {
        **os.environ,
        "LAYERSERVE_MODELS": str(MODELS_DIR),
        "LAYERSERVE_HOST": "127.0.0.1",
        "LAYERSERVE_PORT": str(port),
        "LAYERSERVE_WORKERS": str(workers),
        "LAYERSERVE_GRPC_PORT": str(grpc_port),
    }
    label = f"layerserve-{workers}w"
    return Server(
        label, [str(BIN / "layerserve"), "serve"], env, port, log_dir / f"{phase}-{label}.log", grpc_port=grpc_port
    )


def plain(log_dir: Path, phase: str, weights_dir: Path) -> Server:
    port = free_port()
    env = {**os.environ, "BENCH_MODELS": str(MODELS_DIR), "BENCH_WEIGHTS": str(weights_dir)}
    command = [str(BIN / "gunicorn"), "--config", str(PLAIN_CONFIG), "--bind", f"127.0.0.1:{port}"]
    return Server("plain-2w", command, env, port, log_dir / f"{phase}-plain-2w.log")


def naive(log_dir: Path, phase: str) -> Server:
    port = free_port()
    env = {**os.environ, "BENCH_MODELS": str(MODELS_DIR)}
    command = [str(BIN / "gunicorn"), "--config", str(NAIVE_CONFIG), "--bind", f"127.0.0.1:{port}"]
    return Server("naive-2w", command, env, port, log_dir / f"{phase}-naive-2w.log")
