"""What the layer endpoints say about a built stack: per layer, its wiring, shapes and tensors."""

from torch import nn

from ..errors import UnknownLayer
from ..stack import BuiltLayer
from ..stack.optimize import describe_serving_path
from ..stack.weights import TRAINING_ONLY
from .served import ServedModel


def describe_layers(model: ServedModel) -> dict:
    layers = [describe_layer(i, built, module) for i, (built, module) in enumerate(_pairs(model))]
    return {
        "model_name": model.name,
        "model_version": model.version,
        "layers": layers,
        "parameter_count": sum(layer["parameter_count"] for layer in layers),
        "parameter_bytes": sum(layer["parameter_bytes"] for layer in layers),
        "macs": sum(layer["macs"] for layer in layers),
        "serving_path": describe_serving_path(model.serving),
        "serving_backend": model.serving_backend,
    }


def describe_one(model: ServedModel, ref: str, values: bool = False) -> dict:
    """One layer by name or by index."""
    pairs = list(_pairs(model))
    names = [built.name for built, _ in pairs]
    if ref in names:
        index = names.index(ref)
    elif ref.isascii() and ref.isdigit() and len(ref) <= 9 and int(ref) < len(pairs):
        index = int(ref)
    else:
        raise UnknownLayer(model.name, ref, names)
    built, module = pairs[index]
    return {"model_name": model.name, "model_version": model.version, **describe_layer(index, built, module, values)}


def describe_layer(index: int, built: BuiltLayer, module: nn.Module, values: bool = False) -> dict:
    parameters = [_tensor(n, t, values) for n, t in module.named_parameters(recurse=False)]
    buffers = [_tensor(n, t, values) for n, t in module.named_buffers(recurse=False) if n not in TRAINING_ONLY]
    kind = built.definition.type
    described = {
        "index": index,
        "name": built.name,
        "type": kind.name,
        "family": kind.family,
        "hyperparameters": built.params,
        "inputs": list(built.sources),
        "input_shapes": [[-1, *shape] for shape in built.input_shapes],
        "output_shape": [-1, *built.output_shape],
        "parameters": parameters,
        "buffers": buffers,
        "parameter_count": sum(p["count"] for p in parameters),
        "parameter_bytes": sum(t.numel() * t.element_size() for t in module.parameters(recurse=False)),
        "macs": kind.macs(built.params, list(built.input_shapes), built.output_shape),
    }
    if kind.formula is not None:
        described["formula"] = kind.formula_for(built.params)
    if kind.weight_layout is not None:
        described["weight_layout"] = kind.weight_layout
    return described


def _pairs(model: ServedModel):
    return zip(model.stack.built, model.stack.layers)


def _tensor(name: str, tensor, values: bool) -> dict:
    described = {"name": name, "shape": list(tensor.shape), "count": tensor.numel()}
    if values:
        described["values"] = tensor.detach().numpy()  # written by orjson: float32 in shortest form
    return described
