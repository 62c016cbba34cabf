"""docker-compose.yml in real containers: the project's images built by deploy/stack.py (with Docker,
or with podman where no Docker engine answers), nginx in front of the replicas, driven from the host
through nginx with the shipped client. The tests run in file order on one stack; the last one takes
it down. What they measure goes to test-artifacts/compose-stack.json."""

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton
from layerserve_client import Client, LayerserveError

from deploy import stack

from .conftest import ROOT, free_port
from .test_grpc import wait_for_grpc

# A guard against a hang, not a budget: building the images on a fresh machine (the Debian base,
# then torch) took 8 minutes of it on a busy 2-core machine; with the layers cached the file takes 2.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

FOLD_X = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
FOLD_Y = [[1.0, 0.0], [0.5, 1.0], [1.5, 0.5]]
MEASURED = ROOT / "test-artifacts" / "compose-stack.json"
DEADLINE_S = 120.0


@dataclass
class Deployed:
    engine: stack.Engine
    project: str
    env: dict
    models: Path
    measured: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return stack.publish_url(self.env)

    def replicas(self) -> list[str]:
        return stack.containers(self.engine, self.project, "layerserve")

    def nginx(self) -> str:
        (container,) = stack.containers(self.engine, self.project, "nginx")
        return container

    def inspect(self, container: str, template: str) -> str:
        return self.engine.output("inspect", "--format", template, container)

    def run_in(self, container: str, *command: str):
        return self.engine.run("exec", container, *command, check=False, quiet=True)

    def get_in(self, container: str, path: str) -> str:
        """GET on the replica's own port, from inside its container (the images have no curl)."""
        code = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000{path}').read().decode())"
        result = self.run_in(container, "python", "-c", code)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def stdout(self, container: str) -> str:
        result = self.engine.run("logs", container, quiet=True)
        return result.stdout


def models_folder() -> Path:
    """A copy of the examples that the containers' user (10001) can read: pytest's own temporary
    folders are private to root."""
    parent = Path(tempfile.mkdtemp(prefix="layerserve-compose-"))
    parent.chmod(0o755)
    return Path(shutil.copytree(ROOT / "models", parent / "models"))


def keep_logs(deployment: Deployed) -> None:
    """Every container's output, for the failure that needs it: test-artifacts/compose-logs/."""
    folder = MEASURED.parent / "compose-logs"
    folder.mkdir(parents=True, exist_ok=True)
    for container in stack.containers(deployment.engine, deployment.project):
        name = deployment.inspect(container, "{{.Name}}").strip("/")
        result = deployment.engine.run("logs", container, check=False, quiet=True)
        (folder / f"{name}.log").write_text(result.stdout + result.stderr)


@pytest.fixture(scope="module")
def deployed():
    try:
        engine = stack.find_engine()
    except RuntimeError as error:
        pytest.fail(str(error))
    started = time.monotonic()
    images = stack.build(engine, local=engine.name == "podman")
    models = models_folder()
    env = {
        **images,
        "LAYERSERVE_PUBLISH": f"127.0.0.1:{free_port()}",
        "LAYERSERVE_GRPC_PUBLISH": f"127.0.0.1:{free_port()}",
        "LAYERSERVE_MODELS_DIR": str(models),
    }
    deployment = Deployed(engine, f"layerserve-test-{os.getpid()}", env, models)
    deployment.measured.update(engine=engine.name, build_s=round(time.monotonic() - started, 1))
    try:
        deployment.measured["healthy_s"] = round(stack.up(engine, deployment.project, env), 1)
        yield deployment
    finally:
        keep_logs(deployment)
        stack.down(engine, deployment.project, env)
        shutil.rmtree(models.parent)
        MEASURED.parent.mkdir(exist_ok=True)
        MEASURED.write_text(json.dumps(deployment.measured, indent=2) + "\n")


def test_every_replica_passes_its_healthcheck(deployed):
    replicas = deployed.replicas()
    assert len(replicas) == 2  # the compose file's default
    assert [stack.healthy(deployed.engine, container) for container in replicas] == [True, True]
    with Client(deployed.url) as client:
        assert client.is_ready()


def test_infer_trace_and_predict_through_nginx_with_the_client(deployed):
    with Client(deployed.url) as client:
        assert client.infer("fold", FOLD_X).output().tolist() == FOLD_Y
        traced = client.trace("fold", FOLD_X)
        assert [layer["name"] for layer in traced["layers"]] == ["linear", "act"]
        assert traced["outputs"][0]["data"] == [value for row in FOLD_Y for value in row]
        (row,) = client.predict("recipe", [[1, 2, 3]])
        assert row == pytest.approx([1.8, 2.6], abs=1e-5)


def test_the_replicas_run_as_10001_with_the_models_read_only(deployed):
    for container in deployed.replicas():
        status = deployed.run_in(container, "cat", "/proc/1/status").stdout  # the main process, gunicorn's master
        assert "\nUid:\t10001\t10001\t10001\t10001\n" in status
        (models,) = [
            m for m in json.loads(deployed.inspect(container, "{{json .Mounts}}")) if m["Destination"] == "/models"
        ]
        assert models["RW"] is False
        attempt = deployed.run_in(container, "sh", "-c", "echo x > /models/fold/probe")
        assert attempt.returncode != 0 and "Read-only file system" in attempt.stderr


def test_grpc_through_nginx_answers_from_every_replica(deployed):
    """tritonclient's gRPC client as shipped, on the published gRPC port: nginx passes each call to
    a replica's own gRPC port (8001, set by the image)."""
    client = wait_for_grpc(stack.publish_grpc_target(deployed.env))
    x = triton.InferInput("x", [3, 2], "FP32")
    x.set_data_from_numpy(np.array(FOLD_X, dtype=np.float32))
    replicas = deployed.replicas()
    deadline = time.monotonic() + DEADLINE_S
    try:
        for round_ in range(1_000_000):
            for index in range(10):
                answer = client.infer("fold", [x], headers={"x-request-id": f"grpc-{round_}-{index}"})
                assert answer.as_numpy("act").tolist() == FOLD_Y
            served = {c: deployed.stdout(c).count('"request_id":"grpc-') for c in replicas}
            if all(served.values()):
                break
            assert time.monotonic() < deadline, f"gRPC calls per replica: {list(served.values())}"
    finally:
        client.close()


def test_a_crashed_replica_loses_no_request_and_comes_back(deployed, caplog):
    caplog.set_level("INFO", logger="layerserve_client")
    victim = deployed.replicas()[0]
    pid = int(deployed.inspect(victim, "{{.State.Pid}}"))
    total, kill_after = 300, 40
    answers, failures, done = [], [], []
    halfway = threading.Event()

    def call(index: int) -> None:
        # a client per request: a new connection each, as independent clients make
        with Client(deployed.url, inference_retries=3, timeout=30) as client:
            try:
                answers.append(client.infer("fold", FOLD_X).output().tolist())
            except LayerserveError as error:
                failures.append(f"request {index}: {error!r}")
        done.append(index)
        if len(done) == kill_after:
            halfway.set()

    with ThreadPoolExecutor(max_workers=8) as pool:
        calls = [pool.submit(call, index) for index in range(total)]
        assert halfway.wait(timeout=DEADLINE_S)
        os.kill(pid, signal.SIGKILL)  # from the host: a crash of the container's main process, not a stop
        done_at_kill = len(done)
        for future in calls:
            future.result()

    retried = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("layerserve_client") and "; retry " in r.getMessage()
    ]
    deployed.measured.update(
        kill_requests=total, kill_done_before=done_at_kill, lost=len(failures), retried=len(retried)
    )
    assert done_at_kill < total, "the load ended before the kill: nothing was tested"
    assert failures == []
    assert answers == [FOLD_Y] * total

    deadline = time.monotonic() + DEADLINE_S
    while not (
        int(deployed.inspect(victim, "{{.State.Pid}}")) not in (0, pid) and stack.healthy(deployed.engine, victim)
    ):
        assert time.monotonic() < deadline, f"the killed replica did not come back within {DEADLINE_S:g} s"
        time.sleep(1)
    assert int(deployed.inspect(victim, "{{.RestartCount}}")) >= 1  # restarted by its policy, not recreated


def test_nginx_spreads_requests_over_a_third_replica_without_a_restart(deployed):
    nginx = deployed.nginx()
    before = deployed.inspect(nginx, "{{.State.StartedAt}} {{.State.Pid}}")
    stack.scale(deployed.engine, deployed.project, deployed.env, 3)
    stack.wait_healthy(deployed.engine, deployed.project, deployed.url)
    replicas = deployed.replicas()
    assert len(replicas) == 3

    deadline = time.monotonic() + DEADLINE_S
    with Client(deployed.url) as client:
        for round_ in range(1_000_000):
            for index in range(30):
                client.infer("fold", FOLD_X, headers={"X-Request-ID": f"spread-{round_}-{index}"})
            served = {c: deployed.stdout(c).count('"request_id":"spread-') for c in replicas}
            if all(served.values()):
                break
            assert time.monotonic() < deadline, f"requests per replica: {list(served.values())}"
    assert deployed.inspect(nginx, "{{.State.StartedAt}} {{.State.Pid}}") == before


def test_each_replica_logs_json_on_stdout_and_answers_metrics(deployed):
    for container in deployed.replicas():
        lines = deployed.stdout(container).splitlines()
        records = [json.loads(line) for line in lines]  # every line of stdout is one JSON record
        assert any(r["event"] == "request" and r["path"] == "/v2/models/fold/infer" for r in records)
        metrics = deployed.get_in(container, "/metrics")
        assert 'layerserve_inference_requests_total{model="fold",protocol="v2",status="200"}' in metrics


def test_a_model_changed_on_the_shared_volume_reaches_every_replica(deployed):
    definition = deployed.models / "fold" / "model.yaml"
    changed = definition.parent / ".model.yaml.new"
    changed.write_text(definition.read_text().replace("version: 1\n", "version: 2\n", 1))
    changed.rename(definition)  # all at once, as a deployer should change a served file
    started = time.monotonic()
    while True:
        versions = [json.loads(deployed.get_in(c, "/v2/models/fold"))["versions"] for c in deployed.replicas()]
        if versions == [["2"]] * len(versions):
            break
        assert time.monotonic() - started < DEADLINE_S, f"replicas serve versions {versions}"
        time.sleep(0.5)
    deployed.measured["model_change_s"] = round(time.monotonic() - started, 1)
    with Client(deployed.url) as client:
        assert client.infer("fold", FOLD_X).raw["model_version"] == "2"


def test_down_leaves_no_container_network_or_volume(deployed):
    keep_logs(deployed)
    stack.down(deployed.engine, deployed.project, deployed.env)
    assert stack.leftovers(deployed.engine, deployed.project) == {"containers": [], "networks": [], "volumes": []}
