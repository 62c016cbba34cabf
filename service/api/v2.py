"""Open Inference Protocol (KServe V2) endpoints: health, metadata, readiness, inference."""

from .. import __version__
from ..errors import NotReady
from . import MODEL, MODEL_VERSION, repository
from .parsing import Blueprint
from .schemas import (
    HealthSchema,
    ModelListSchema,
    ModelMetadataSchema,
    ModelReadySchema,
    ServerMetadataSchema,
)
from .services import services

blp = Blueprint("v2", __name__, url_prefix="/v2", description="Open Inference Protocol (KServe V2)")


@blp.route("")
@blp.response(200, ServerMetadataSchema)
def server_metadata():
    """Server name, version and the protocol extensions it serves."""
    return {"name": "layerserve", "version": __version__, "extensions": extensions()}


def extensions() -> list[str]:
    """The repository extension only when its endpoints are enabled (an admin token is set)."""
    enabled = services().admin_token.enabled
    return ["binary_tensor_data", *(["model_repository"] if enabled else []), "layers", "trace"]


@blp.route("/health/live")
@blp.response(200, HealthSchema)
def live():
    """The server process answers."""
    return {"live": True}


@blp.route("/health/ready")
@blp.response(200, HealthSchema)
@blp.alt_response(503, description="some model is still loading or warming up")
def ready():
    """Every model that loaded is warmed up and serving (a broken model does not hold readiness)."""
    if not repository().ready:
        raise NotReady("models are still warming up")
    return {"ready": True}


@blp.route("/models")
@blp.response(200, ModelListSchema)
def list_models():
    """Every model folder with its versions, state, and load error if any."""
    return {"models": [entry.listing() for entry in repository().entries()]}


@blp.route(MODEL)
@blp.route(MODEL_VERSION)
@blp.response(200, ModelMetadataSchema)
def model_metadata(name, version=None):
    """Inputs and outputs with datatype and shape (-1 marks the batch dimension)."""
    model = repository().get(name, version)
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": "layerserve",
        "description": model.definition.description,
        "max_batch_size": model.max_batch_size,
        "inputs": [spec.metadata() for spec in model.inputs],
        "outputs": [spec.metadata() for spec in model.outputs],
        **({"example": model.definition.example} if model.definition.example is not None else {}),
    }


@blp.route(MODEL + "/ready")
@blp.route(MODEL_VERSION + "/ready")
@blp.response(200, ModelReadySchema)
@blp.alt_response(400, description="the model failed to load or was unloaded; the reason says why")
@blp.alt_response(503, description="the model is warming up")
def model_ready(name, version=None):
    """200 when the model serves; 400 with the reason when it failed to load, 503 while it warms up."""
    repository().get(name, version)
    return {"name": name, "ready": True}
