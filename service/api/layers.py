"""Layer endpoints: what each layer of a model is, its wiring, shapes and parameters."""

from flask import request

from ..runtime.describe import describe_layers, describe_one
from ..stack.layers import LAYER_TYPES
from . import MODEL, MODEL_VERSION, repository
from .parsing import Blueprint
from .schemas import LayerQuerySchema, LayersSchema, LayerTypesSchema, OneLayerSchema
from .services import services

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
    """One layer, by name or index; ?values=true adds the parameter values, which need the
    inference token when the server has one (weights are worth as much as inference)."""
    if query["values"]:
        services().pipeline.check_inference_token(request.headers.get("Authorization"))
    return describe_one(repository().get(name, version), ref, values=query["values"])


@blp.route("/layer-types")
@blp.response(200, LayerTypesSchema)
def layer_types():
    """The layer registry: every type a definition may use, with its hyper-parameters and rules."""
    return {"layer_types": [LAYER_TYPES[name].describe() for name in sorted(LAYER_TYPES)]}
