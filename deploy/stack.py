"""Build the images and run docker-compose.yml: with Docker when its engine answers, with podman otherwise.

    python -m deploy.stack up [--project NAME] [--hub | --local]   (make compose-up)
    python -m deploy.stack down [--project NAME]                   (make compose-down)
    python -m deploy.stack build [--hub | --local]                 (make image)

Images come from Docker Hub and PyPI (`--hub`: python:3.11-slim, PyTorch's CPU index, the
upstream nginx image), or are built from this machine's own sources (`--local`): a Debian base
made by mmdebstrap from the machine's apt sources, the locked wheels downloaded by the machine's
pip (torch from PIP_FIND_LINKS), and nginx from Debian's package. Docker defaults to --hub,
podman to --local. The integration test drives the stack through the same functions.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
CONTAINERS_CONF = ROOT / "deploy" / "podman" / "containers.conf"
WHEELS = ROOT / "build" / "wheels"
IMAGE = "layerserve:latest"  # the image docker-compose.yml and the Kubernetes manifests run
LOCAL_BASE = "localhost/layerserve-base:bookworm"
LOCAL_NGINX = "localhost/layerserve-nginx:bookworm"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
FROM_WHEELS = "--no-index --find-links /wheels"
DEFAULT_PROJECT = "layerserve"
DEFAULT_PUBLISH = "127.0.0.1:8000"
DEFAULT_GRPC_PUBLISH = "127.0.0.1:8001"
HEALTHY_DEADLINE_S = 180.0


@dataclass
class Engine:
    """The container engine's command line and the compose command that goes with it."""

    name: str
    environment: dict = field(default_factory=dict)

    @property
    def compose(self) -> list[str]:
        return ["docker", "compose"] if self.name == "docker" else ["podman-compose"]

    def run(self, *args: str, check: bool = True, env: dict | None = None, quiet: bool = False):
        command = [self.name, *args]
        return _run(command, {**self.environment, **(env or {})}, check=check, quiet=quiet)

    def output(self, *args: str) -> str:
        return self.run(*args, quiet=True).stdout.strip()

    def compose_run(self, project: str, *args: str, env: dict | None = None, check: bool = True):
        command = [*self.compose, "-p", project, "-f", str(ROOT / "docker-compose.yml"), *args]
        return _run(command, {**self.environment, **(env or {})}, check=check, quiet=self.name == "podman")


def _run(command: list[str], env: dict, check: bool = True, quiet: bool = False):
    """Run a command in the project folder; `quiet` keeps its output for the error message only."""
    result = subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, text=True, capture_output=quiet, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        output = f"\n{result.stdout}{result.stderr}" if quiet else ""
        raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}{output}")
    return result


def find_engine() -> Engine:
    """Docker if its engine answers (a docker CLI alone is not enough), else podman with runc."""
    if shutil.which("docker") and _answers(["docker", "info"]):
        return Engine("docker")
    if shutil.which("podman") and shutil.which("podman-compose"):
        return Engine("podman", {"CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))})
    raise RuntimeError(
        "neither a Docker engine nor podman with podman-compose here; `make system-deps` installs podman"
    )


def _answers(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# Building


def build(engine: Engine, local: bool) -> dict[str, str]:
    """Build the layerserve image (and with `local`, the nginx image); returns the compose
    environment that names the images built."""
    if not local:
        engine.run("build", *_format(engine), "-t", IMAGE, ".")
        return {}
    ensure_local_base(engine)
    download_wheels()
    engine.run(
        "build",
        *_format(engine),
        "--build-context",
        f"wheels={WHEELS}",
        "--build-arg",
        f"BASE_IMAGE={LOCAL_BASE}",
        "--build-arg",
        f"TORCH_FROM={FROM_WHEELS}",
        "--build-arg",
        f"PACKAGES_FROM={FROM_WHEELS}",
        "-t",
        IMAGE,
        ".",
    )
    engine.run("build", *_format(engine), "--build-arg", f"BASE_IMAGE={LOCAL_BASE}", "-t", LOCAL_NGINX, "deploy/nginx")
    return {"NGINX_IMAGE": LOCAL_NGINX}


def _format(engine: Engine) -> list[str]:
    # podman's default image format (OCI) has no HEALTHCHECK: the Dockerfile's would be dropped
    return ["--format", "docker"] if engine.name == "podman" else []


def ensure_local_base(engine: Engine) -> None:
    """A Debian bookworm image with python3 and venv, from this machine's apt sources; kept once made."""
    if (
        engine.run(
            "image", "exists" if engine.name == "podman" else "inspect", LOCAL_BASE, check=False, quiet=True
        ).returncode
        == 0
    ):
        return
    with tempfile.TemporaryDirectory(prefix="layerserve-base-") as folder:
        tarball = Path(folder) / "base.tar"
        _run(["mmdebstrap", "--quiet", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(tarball)], {})
        engine.run("import", str(tarball), LOCAL_BASE, quiet=True)


def download_wheels() -> None:
    """Every runtime wheel of the lock, by this machine's pip (its index, its cache, and torch's
    CPU wheel from PIP_FIND_LINKS), plus what pyproject.toml needs to build layerserve itself."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    build_requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:", "-d", str(WHEELS)]
    _run([*pip, "-r", "requirements.txt", *build_requires], {})


# Running


def up(engine: Engine, project: str, env: dict, deadline_s: float = HEALTHY_DEADLINE_S) -> float:
    """Start the stack and wait until it is healthy; returns the seconds that took."""
    started = time.monotonic()
    engine.compose_run(project, "up", "-d", "--no-build", env=env)
    wait_healthy(engine, project, publish_url({**os.environ, **env}), deadline_s)
    return time.monotonic() - started


def scale(engine: Engine, project: str, env: dict, replicas: int) -> None:
    """Run `replicas` layerserve containers; the others (nginx included) keep running untouched."""
    if engine.name == "docker":
        engine.compose_run(
            project, "up", "-d", "--no-build", "--no-recreate", "--scale", f"layerserve={replicas}", env=env
        )
    else:  # podman-compose 1.0 ignores --scale but reads deploy.replicas; existing containers are kept
        engine.compose_run(project, "up", "-d", "--no-build", env={**env, "LAYERSERVE_REPLICAS": str(replicas)})


def publish_url(env: dict) -> str:
    return f"http://{env.get('LAYERSERVE_PUBLISH', DEFAULT_PUBLISH)}"


def publish_grpc_target(env: dict) -> str:
    """host:port of nginx's gRPC side, as gRPC clients take it."""
    return env.get("LAYERSERVE_GRPC_PUBLISH", DEFAULT_GRPC_PUBLISH)


def containers(engine: Engine, project: str, service: str | None = None) -> list[str]:
    """Ids of the project's containers (of one service), running or not."""
    labels = ["--filter", f"label=com.docker.compose.project={project}"]
    if service:
        labels += ["--filter", f"label=com.docker.compose.service={service}"]
    return engine.output("ps", "-a", "-q", "--no-trunc", *labels).split()


def healthy(engine: Engine, container: str) -> bool:
    """The image's HEALTHCHECK passes. podman runs it on demand here: without systemd it has
    nothing to run it on a schedule."""
    if engine.name == "podman":
        return engine.run("healthcheck", "run", container, check=False, quiet=True).returncode == 0
    return engine.output("inspect", "--format", "{{.State.Health.Status}}", container) == "healthy"


def wait_healthy(engine: Engine, project: str, url: str, deadline_s: float = HEALTHY_DEADLINE_S) -> None:
    """Every layerserve container's healthcheck passes and nginx answers ready at `url`."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        replicas = containers(engine, project, "layerserve")
        if replicas and all(healthy(engine, container) for container in replicas) and _ready(url):
            return
        time.sleep(1)
    logs = "\n".join(
        engine.run("logs", "--tail", "30", c, check=False, quiet=True).stderr for c in containers(engine, project)
    )
    raise RuntimeError(f"stack {project!r} not healthy within {deadline_s:g} s; last logs:\n{logs}")


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/v2/health/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def down(engine: Engine, project: str, env: dict | None = None) -> None:
    """Stop and remove every container, network and volume of the project, scaled-up replicas too
    (podman-compose's `down` removes only the containers the file names)."""
    engine.compose_run(project, "down", "-v", env=env, check=False)
    label = f"label=com.docker.compose.project={project}"
    if ids := containers(engine, project):
        engine.run("rm", "-f", "-v", *ids, quiet=True)
    for kind in ("network", "volume"):
        if names := engine.output(kind, "ls", "-q", "--filter", label).split():
            engine.run(kind, "rm", *names, quiet=True)


def leftovers(engine: Engine, project: str) -> dict[str, list[str]]:
    """What of the project is still there: containers, networks and volumes."""
    label = f"label=com.docker.compose.project={project}"
    found = {"containers": containers(engine, project)}
    for kind in ("network", "volume"):
        found[f"{kind}s"] = engine.output(kind, "ls", "-q", "--filter", label).split()
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.stack", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["build", "up", "down"])
    parser.add_argument("--project", default=DEFAULT_PROJECT, help="compose project name [%(default)s]")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--hub", dest="local", action="store_false", default=None, help="images from Docker Hub and PyPI"
    )
    source.add_argument("--local", dest="local", action="store_true", help="images from this machine's sources")
    args = parser.parse_args(argv)
    engine = find_engine()
    local = engine.name == "podman" if args.local is None else args.local
    if args.action == "down":
        down(engine, args.project)
        print(f"stack {args.project!r} removed ({engine.name})")
        return
    env = build(engine, local)
    if args.action == "up":
        seconds = up(engine, args.project, env)
        print(
            f"layerserve is up at {publish_url(os.environ)}, gRPC at {publish_grpc_target(os.environ)} "
            f"({engine.name}, healthy after {seconds:.0f} s)"
        )


if __name__ == "__main__":
    main()
