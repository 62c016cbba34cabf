"""A torch.nn.Sequential → a layerserve definition document and its tensors.

Each module maps to the registry entry built from the same class, and its hyper-parameters are
read from the module's attributes of the same names, which the registry's schemas take from
torch's own arguments. No table here repeats what the registry already says.
"""

import re
from dataclasses import dataclass

import numpy as np
from torch import nn

from ..errors import ConversionError
from ..stack.layers import LAYER_TYPES, LayerType, type_of_module
from ..stack.schema import NAME_PATTERN
from ..stack.weights import TRAINING_ONLY
from ..tensors.dtypes import MODEL_DTYPES

# The file the tensors are written to, beside the definition.
WEIGHTS_FILE = "weights.safetensors"


@dataclass(frozen=True)
class Converted:
    """What a model folder holds: the definition document and the `<layer>.<param>` tensors."""

    document: dict
    tensors: dict[str, np.ndarray]


def convert_sequential(
    model: nn.Sequential,
    name: str,
    input_shape: tuple[int, ...] | None = None,
    input_name: str = "input",
    description: str = "",
) -> Converted:
    if not isinstance(model, nn.Sequential):
        raise ConversionError(f"expected a torch.nn.Sequential, got {type(model).__name__}")
    layers, tensors = [], {}
    for path, module in flatten_sequential(model):
        layer_type = registry_type(path, module)
        layer_name = layer_name_for(path, layer_type)
        layers.append({"name": layer_name, "type": layer_type.name, **hyperparameters(path, layer_type, module)})
        tensors.update({f"{layer_name}.{key}": value for key, value in module_tensors(module).items()})
    if not layers:
        raise ConversionError("the Sequential has no layers")
    document = {
        "name": name,
        "version": 1,
        **({"description": description} if description else {}),
        "dtype": tensors_dtype(tensors),
        "inputs": [model_input(input_name, input_shape, layers[0])],
        **({"weights": WEIGHTS_FILE} if tensors else {}),
        "layers": layers,
        "outputs": [layers[-1]["name"]],
    }
    return Converted(document, tensors)


def model_input(name: str, shape: tuple[int, ...] | None, first_layer: dict) -> dict:
    """The one input: indices (int64) when the first layer looks them up, else the model's dtype."""
    spec = {"name": name, "shape": list(shape or first_input_shape(first_layer))}
    if LAYER_TYPES[first_layer["type"]].index_bound:
        spec["dtype"] = "int64"
    return spec


def flatten_sequential(model: nn.Sequential, prefix: str = ""):
    """(path, module) for every layer in order; nested Sequentials are spliced in, paths like '2.0'."""
    for child_name, child in model.named_children():
        path = f"{prefix}{child_name}"
        if isinstance(child, nn.Sequential):
            yield from flatten_sequential(child, f"{path}.")
        else:
            yield path, child


def registry_type(path: str, module: nn.Module) -> LayerType:
    layer_type = type_of_module(module)
    if layer_type is None:
        known = ", ".join(sorted(LAYER_TYPES))
        raise ConversionError(f"module {path} ({type(module).__name__}) is not a layer type layerserve knows ({known})")
    if layer_type.arity != 1:
        raise ConversionError(
            f"module {path} ({layer_type.name}) takes {layer_type.arity} inputs; a Sequential gives one"
        )
    return layer_type


def layer_name_for(path: str, layer_type: LayerType) -> str:
    """The Sequential's own child name when it is a valid layer name (fc1), else type and path (linear_0)."""
    if re.match(NAME_PATTERN, path):
        return path
    return f"{layer_type.name.lower()}_{path.replace('.', '_')}"


def hyperparameters(path: str, layer_type: LayerType, module: nn.Module) -> dict:
    """The module's values of its type's hyper-parameters, leaving out those at their defaults."""
    refused = layer_type.unservable(module) if layer_type.unservable else None
    if refused:
        raise ConversionError(f"module {path} ({layer_type.name}): {refused}")
    params = {}
    for field_name, field in layer_type.params().fields.items():
        value = getattr(module, field_name)
        if field_name == "bias" and not isinstance(value, bool):
            value = value is not None  # the module holds the tensor; the definition wants the switch
        if isinstance(value, tuple):
            value = list(value)
        if value is not None and not _is_default(value, field.load_default):
            params[field_name] = value
    return params


def _is_default(value, default) -> bool:
    """torch keeps sizes as tuples ((1,) for stride=1): a list of the default is the default too."""
    return value == default or (isinstance(value, list) and type(default) is int and set(value) == {default})


def module_tensors(module: nn.Module) -> dict[str, np.ndarray]:
    """The module's own parameters and buffers, without those torch keeps for training only."""
    return {key: value.detach().cpu().numpy() for key, value in module.state_dict().items() if key not in TRAINING_ONLY}


def tensors_dtype(tensors: dict[str, np.ndarray]) -> str:
    """The one dtype of all the tensors (float32 for a model without any)."""
    names = set()
    for key, array in tensors.items():
        if array.dtype.name not in MODEL_DTYPES:
            raise ConversionError(f"tensor {key} is {array.dtype}; layerserve serves {', '.join(MODEL_DTYPES)}")
        names.add(array.dtype.name)
    if len(names) > 1:
        raise ConversionError(f"the tensors mix dtypes {sorted(names)}; convert the model to one dtype first")
    return names.pop() if names else "float32"


def first_input_shape(first_layer: dict) -> tuple[int, ...]:
    """From the hyper-parameter that tells it (in_features, num_features, normalized_shape)."""
    rule = LAYER_TYPES[first_layer["type"]].input_shape
    shape = rule(first_layer) if rule else None
    if shape is None:
        raise ConversionError(
            f"the first layer ({first_layer['type']}) does not tell the per-sample input shape; give it (--input-shape)"
        )
    return shape
