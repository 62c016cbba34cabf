"""nginx in front of two real layerserve instances, on loopback, with the compose deployment's config.

The template deploy/nginx/default.conf.template is rendered as the nginx image renders it
(${NAME} from the nginx service's environment in docker-compose.yml), with the compose
service's name swapped for an upstream group of the two instances' loopback ports (the
containers' own DNS path is tested in test_compose_stack.py). Debian's nginx runs it as a real
process.
"""

import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
import tritonclient.grpc as triton
import yaml

from .conftest import ROOT, free_port
from .test_grpc import wait_for_grpc
from .test_server import FOLD_REQUEST, FOLD_RESULT, request_records

pytestmark = pytest.mark.integration

TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"
COMPOSE_UPSTREAM = "layerserve:8000"  # the compose service's name and port in LAYERSERVE_UPSTREAM
COMPOSE_GRPC_UPSTREAM = "layerserve:8001"  # and in LAYERSERVE_GRPC_UPSTREAM
UPSTREAM_GROUP = "replicas"
GRPC_UPSTREAM_GROUP = "grpc_replicas"
# nginx's compiled-in temp paths are under /var/lib/nginx; these keep everything in the test's folder
NGINX_TEMP_PATHS = (
    "client_body",
    "proxy",
    "fastcgi",
    "uwsgi",
    "scgi",
)


def render(template: str, environment: dict[str, str]) -> str:
    """envsubst as the nginx image runs it: only ${NAME} of variables it was given (not nginx's $host)."""
    rendered = re.sub(r"\$\{(\w+)\}", lambda m: environment.get(m.group(1), m.group(0)), template)
    assert not re.search(r"\$\{\w+\}", rendered), "the template uses a variable compose does not set"
    return rendered


def nginx_environment(port: int, grpc_port: int) -> dict[str, str]:
    """The compose nginx service's environment, pointed at the upstream groups and these loopback ports."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = dict(compose["services"]["nginx"]["environment"])
    assert environment["LAYERSERVE_UPSTREAM"] == COMPOSE_UPSTREAM
    assert environment["LAYERSERVE_GRPC_UPSTREAM"] == COMPOSE_GRPC_UPSTREAM
    environment["LAYERSERVE_UPSTREAM"] = UPSTREAM_GROUP
    environment["LAYERSERVE_GRPC_UPSTREAM"] = GRPC_UPSTREAM_GROUP
    environment["LAYERSERVE_RESOLVER"] = "127.0.0.1"  # what resolver.envsh sets; a group needs no DNS
    environment["NGINX_PORT"] = f"127.0.0.1:{port}"
    environment["NGINX_GRPC_PORT"] = f"127.0.0.1:{grpc_port}"
    return environment


def upstream_group(name: str, upstreams: list[str]) -> str:
    """The instances as nginx would get them from DNS: one server each, with nginx's default
    passive check (one failure leaves a server out for 10 s)."""
    servers = "".join(f"    server {upstream};\n" for upstream in upstreams)
    return f"upstream {name} {{\n{servers}}}\n"


class Nginx:
    """Debian's nginx in the foreground, its files (config, logs, temp dirs) under one folder."""

    def __init__(self, folder: Path, site: str, port: int, grpc_port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.grpc_target = f"127.0.0.1:{grpc_port}"
        (folder / "default.conf").write_text(site)
        (folder / "nginx.conf").write_text(
            "daemon off;\nworker_processes 1;\n"
            f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log notice;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n  access_log {folder}/access.log;\n"
            + "".join(f"  {kind}_temp_path {folder}/{kind}_temp;\n" for kind in NGINX_TEMP_PATHS)
            + f"  include {folder}/default.conf;\n}}\n"
        )
        self.folder = folder
        self.process = None

    def start(self) -> "Nginx":
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            pytest.fail("nginx is not installed; `make test` installs it (make system-deps)")
        command = [nginx, "-p", str(self.folder), "-e", str(self.folder / "error.log"), "-c", "nginx.conf"]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(command)
        deadline = time.monotonic() + 10
        while True:
            assert self.process.poll() is None, self.error_log()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen within 10 s"
                time.sleep(0.05)

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        """SIGQUIT: nginx's graceful shutdown."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail("nginx did not stop on SIGQUIT")
        assert self.process.returncode == 0, self.error_log()


@pytest.fixture
def two_instances(start_server, models_copy, tmp_path):
    # TMPDIR: a killed instance leaves its metrics directory behind, here rather than in /tmp
    instances = []
    for _ in range(2):
        grpc_port = free_port()
        env = {"TMPDIR": str(tmp_path), "LAYERSERVE_GRPC_PORT": str(grpc_port)}
        instances.append(start_server(models_copy, workers=1, env=env))
        instances[-1].grpc_target = f"127.0.0.1:{grpc_port}"
    return instances


@pytest.fixture
def nginx(tmp_path, two_instances):
    port, grpc_port = free_port(), free_port()
    site = (
        upstream_group(UPSTREAM_GROUP, [f"127.0.0.1:{server.port}" for server in two_instances])
        + upstream_group(GRPC_UPSTREAM_GROUP, [server.grpc_target for server in two_instances])
        + render(TEMPLATE.read_text(), nginx_environment(port, grpc_port))
    )
    folder = tmp_path / "nginx"
    folder.mkdir()
    proxy = Nginx(folder, site, port, grpc_port).start()
    yield proxy
    proxy.stop()


def kill_instance(server) -> None:
    """As when a container dies: SIGKILL to the master and its workers, no graceful anything."""
    master = psutil.Process(server.process.pid)
    for process in [*master.children(recursive=True), master]:
        process.kill()
    server.process.wait()


def infer_through(url: str, broken_off: list | None = None) -> int:
    """One inference through nginx; with `broken_off`, retried once if the answer broke off mid-body.

    nginx retries a request whose instance failed before answering. Once an instance has sent
    the status line and headers, nginx has passed them on and cannot retry: if the instance dies
    before the body, only the client can, which is safe because inference is idempotent.
    """
    try:
        # no session: a new connection per request, as many independent clients would
        response = requests.post(f"{url}/v2/models/fold/infer", json=FOLD_REQUEST, timeout=30)
    except requests.exceptions.ChunkedEncodingError:
        if broken_off is None:
            raise
        broken_off.append(1)
        return infer_through(url)
    assert response.status_code == 200, response.text  # a 502 would be a request nginx failed to retry
    assert response.json()["outputs"][0]["data"] == FOLD_RESULT
    return response.status_code


def test_nginx_spreads_requests_over_both_instances(nginx, two_instances):
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(lambda _: infer_through(nginx.url), range(40))) == [200] * 40
    served = [len([r for r in request_records(s.log()) if r["path"].endswith("/infer")]) for s in two_instances]
    assert sum(served) == 40
    assert min(served) > 0, f"one instance got nothing: {served}"


def test_no_request_is_lost_when_an_instance_is_killed_mid_load(nginx, two_instances):
    total, kill_after = 400, 60
    done, broken_off = 0, []
    halfway = threading.Event()
    lock = threading.Lock()

    def call(_):
        nonlocal done
        status = infer_through(nginx.url, broken_off)
        with lock:
            done += 1
            if done == kill_after:
                halfway.set()
        return status

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(call, range(total))
        assert halfway.wait(timeout=60)
        kill_instance(two_instances[0])
        with lock:
            done_at_kill = done
        assert list(results) == [200] * total
    assert done_at_kill < total, "the load ended before the instance was killed: nothing was tested"
    survivor = [r for r in request_records(two_instances[1].log()) if r["path"].endswith("/infer")]
    # every request answered after the kill came from the survivor (give or take those in flight)
    assert len(survivor) >= total - done_at_kill - 8
    # at most the requests in the killed instance's hands (8 threads) broke off after their headers
    assert len(broken_off) <= 8
    assert "upstream" in nginx.error_log()  # nginx saw the dead instance and went on to the other


def test_grpc_through_nginx_reaches_both_instances_on_one_client_connection(nginx, two_instances):
    """nginx picks an instance for each call (grpc_pass), so one channel is spread as well."""
    for instance in two_instances:
        wait_for_grpc(instance.grpc_target).close()  # each serves gRPC once its worker has warmed up
    client = triton.InferenceServerClient(nginx.grpc_target)
    batch = np.array(FOLD_REQUEST["inputs"][0]["data"], dtype=np.float32)
    x = triton.InferInput("x", list(batch.shape), "FP32")
    x.set_data_from_numpy(batch)
    try:
        answers = [client.infer("fold", [x]).as_numpy("act").ravel().tolist() for _ in range(20)]
    finally:
        client.close()
    assert answers == [FOLD_RESULT] * 20
    served = [
        len([r for r in request_records(s.log()) if r["path"].endswith("/ModelInfer") and r["status"] == 200])
        for s in two_instances
    ]
    assert sum(served) == 20
    assert min(served) > 0, f"one instance got nothing: {served}"
