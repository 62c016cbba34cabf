"""Real servers for integration tests: the container's own command, on a free loopback port."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STARTUP_DEADLINE = 60.0


def container_command() -> list[str]:
    """The CMD of the Dockerfile: integration tests run exactly what the container runs."""
    match = re.search(r"^CMD\s+(\[.*\])\s*$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    command = json.loads(match.group(1))
    return [str(BIN / command[0]), *command[1:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One layerserve instance under gunicorn, started like the container starts it."""

    def __init__(self, models: Path, workers: int = 2, env: dict | None = None, arguments: tuple = ()):
        """`arguments`: added to the container's command (`layerserve serve`'s flags)."""
        self.arguments = list(arguments)
        self.port = free_port()
        self.workers = workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "LAYERSERVE_MODELS": str(models),
            "LAYERSERVE_HOST": "127.0.0.1",
            "LAYERSERVE_PORT": str(self.port),
            "LAYERSERVE_WORKERS": str(workers),
            **(env or {}),
        }
        self.process = None
        # A file, not a pipe: an unread pipe fills up and blocks the server.
        self.log_file = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop)
        self.final_log = None

    def start(self) -> "ServerProcess":
        self.process = subprocess.Popen(
            [*container_command(), *self.arguments], env=self.env, stdout=self.log_file, stderr=subprocess.STDOUT
        )
        self._wait_ready()
        return self

    def log(self) -> str:
        self.log_file.seek(0)
        return self.log_file.read()

    def _wait_ready(self):
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                ready = requests.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200
            except requests.ConnectionError:
                ready = False
            # ready answers from the first worker up; tests that count workers need all of them
            # forked and warmed up (a worker still warming up leaves its connections to the others)
            if ready and self.every_worker_warm():
                return
            time.sleep(0.1)
        log = self.stop()
        raise RuntimeError(f"server not ready within {STARTUP_DEADLINE}s:\n{log}")

    def every_worker_warm(self) -> bool:
        """Whether each of the workers running now (a replacement for a killed one too) has warmed up."""
        pids = {str(child.pid) for child in psutil.Process(self.process.pid).children()}
        warm = set(re.findall(r"worker (\d+) warmed up its models", self.log()))
        return len(pids) == self.workers and pids <= warm

    def stop(self) -> str:
        """SIGTERM, wait for the graceful exit, and return everything the server logged."""
        if self.final_log is not None:
            return self.final_log
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.final_log = self.log()
        self.log_file.close()
        return self.final_log


@pytest.fixture(scope="session")
def live_server():
    server = ServerProcess(ROOT / "models").start()
    yield server.url
    server.stop()


@pytest.fixture
def start_server():
    """Start servers on model folders of the test's own making; all are stopped afterwards."""
    servers = []

    def start(models: Path, **kwargs) -> ServerProcess:
        servers.append(ServerProcess(models, **kwargs).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def models_copy(tmp_path) -> Path:
    """A writable copy of the bundled models, to add broken folders beside them."""
    return Path(shutil.copytree(ROOT / "models", tmp_path / "models"))
