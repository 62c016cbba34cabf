"""Layer endpoints: what each layer of a model is, its wiring, shapes and parameters."""

from ..runtime.describe import describe_layers, describe_one
from . import MODEL, MODEL_VERSION, repository
from .parsing import Blueprint
from .schemas import LayerQuerySchema, LayersSchema, OneLayerSchema

blp = Blueprint("layers", __name__, url_prefix="/v2", description="Layers of a model, in order")


@blp.route(MODEL + "/layers")
@blp.route(MODEL_VERSION + "/layers")
@blp.response(200, LayersSchema)
def list_layers(name, version=None):
    """Every layer in order: type, hyper-parameters, inputs, shapes, parameters and their counts."""
    return describe_layers(repository().get(name, version))


@blp.route(MODEL + "/layers/<ref>")
@blp.route(MODEL_VERSION + "/layers/<ref>")
@blp.arguments(LayerQuerySchema, location="query")
@blp.response(200, OneLayerSchema)
def one_layer(query, name, ref, version=None):
    """One layer, by name or index; ?values=true adds the parameter values."""
    return describe_one(repository().get(name, version), ref, values=query["values"])
