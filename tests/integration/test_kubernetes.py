"""The Kubernetes manifests: valid against the Kubernetes schemas, and true to the image they run."""

import kubernetes_validate
import pytest
import yaml

from service.config import defaults

from .conftest import ROOT

pytestmark = pytest.mark.integration

KUBERNETES = ROOT / "deploy" / "kubernetes"
# KServe's PredictorSpec is a core/v1 PodSpec inlined with these deployment settings
# (ComponentExtensionSpec, pkg/apis/serving/v1beta1/component.go in KServe).
KSERVE_COMPONENT_EXTENSION = {
    "minReplicas",
    "maxReplicas",
    "scaleTarget",
    "scaleMetric",
    "containerConcurrency",
    "timeout",
    "canaryTrafficPercent",
    "logger",
    "batcher",
    "labels",
    "annotations",
    "deploymentStrategy",
}
HEALTH_PATHS = {"/v2/health/live", "/v2/health/ready"}


def documents(name: str) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all((KUBERNETES / name).read_text()) if doc}


def validate(resource: dict) -> None:
    """Strict: an unknown field is an error, as the API server's strict field validation makes it."""
    kubernetes_validate.validate(resource, kubernetes_validate.utils.latest_version(), strict=True)


@pytest.fixture(scope="module")
def layerserve():
    return documents("layerserve.yaml")


@pytest.fixture(scope="module")
def inference_service():
    return documents("inferenceservice.yaml")["InferenceService"]


def every_resource() -> list:
    """Every document in deploy/kubernetes but the InferenceService, which has no Kubernetes
    schema (its pod spec is validated below); any other kind without one fails validation."""
    return [
        pytest.param(doc, id=f"{path.name}:{doc['kind']}")
        for path in sorted(KUBERNETES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] != "InferenceService"
    ]


@pytest.mark.parametrize("resource", every_resource())
def test_every_resource_is_valid(resource):
    validate(resource)


def test_a_broken_manifest_is_refused(layerserve):
    broken = yaml.safe_load(yaml.safe_dump(layerserve["Deployment"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/v2/health/ready"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_the_deployment_probes_the_health_endpoints_on_the_served_port(layerserve):
    pod = layerserve["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    port, grpc = container["ports"]
    assert port["containerPort"] == defaults()["PORT"]  # the image serves on the default port
    assert (grpc["name"], grpc["containerPort"]) == ("grpc", 8001)  # and gRPC where the image sets it
    probes = [container[name]["httpGet"] for name in ("startupProbe", "readinessProbe", "livenessProbe")]
    assert {probe["path"] for probe in probes} == HEALTH_PATHS
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert {probe["port"] for probe in probes} == {port["name"]}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert container["resources"]["limits"] and container["resources"]["requests"]


def test_the_service_and_autoscaler_point_at_the_deployment(layerserve):
    deployment, service, hpa = layerserve["Deployment"], layerserve["Service"], layerserve["HorizontalPodAutoscaler"]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "layerserve"}
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]


def test_the_inference_service_predictor_is_a_valid_pod_spec(inference_service):
    assert inference_service["apiVersion"] == "serving.kserve.io/v1beta1"
    predictor = inference_service["spec"]["predictor"]
    pod_spec = {key: value for key, value in predictor.items() if key not in KSERVE_COMPONENT_EXTENSION}
    validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "layerserve-predictor"}, "spec": pod_spec})


def test_the_inference_service_runs_the_image_as_a_v2_custom_predictor(inference_service, layerserve):
    (container,) = inference_service["spec"]["predictor"]["containers"]
    assert container["name"] == "kserve-container"
    env = {variable["name"]: variable["value"] for variable in container["env"]}
    assert env["PROTOCOL"] == "v2"
    port = int(env["LAYERSERVE_PORT"])
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert {container[probe]["httpGet"]["port"] for probe in ("readinessProbe", "livenessProbe")} == {port}
    assert {container[probe]["httpGet"]["path"] for probe in ("readinessProbe", "livenessProbe")} == HEALTH_PATHS
    assert inference_service["metadata"]["annotations"]["prometheus.kserve.io/port"] == str(port)
    assert container["image"] == layerserve["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]


def test_every_manifest_uses_the_image_compose_builds(layerserve):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    (container,) = layerserve["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == compose["services"]["layerserve"]["image"]
