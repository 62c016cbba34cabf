"""Where each layer's tensors come from: inline lists, a safetensors file, or a seed.

Every tensor is materialized with numpy and handed to torch without a copy, so loading runs
no torch kernels (safe in a process that forks workers afterwards) and never unpickles.
"""

import itertools
import math
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from ..errors import DefinitionError, clip
from ..tensors.dtypes import DType
from .deadline import LoadDeadline
from .definition import Definition, LayerDef
from .stack import BuiltLayer

# Buffers torch keeps for training only; accepted in weight files, never required.
TRAINING_ONLY = ("num_batches_tracked",)


def expected_tensors(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """The tensors a built (meta) module needs, by state-dict name, with their shapes."""
    tensors = dict(module.named_parameters(recurse=False))
    tensors.update(module.named_buffers(recurse=False))
    return {name: tuple(t.shape) for name, t in tensors.items() if name not in TRAINING_ONLY}


def resolve_weights_path(definition: Definition) -> Path:
    """The weights file, refused if it escapes the model folder (../, absolute, symlinks)."""
    folder = definition.folder.resolve()
    candidate = Path(definition.weights)
    where = f"{definition.file.name}: weights"
    if candidate.is_absolute():
        raise DefinitionError(f"{where}: {definition.weights!r} is absolute; give a path inside the model folder")
    try:
        path = (folder / candidate).resolve()
        found = path.is_file()
    except OSError as exc:  # e.g. a name too long; strerror, as the full message shows server paths
        raise DefinitionError(f"{where}: {definition.weights!r} cannot be opened ({exc.strerror})") from None
    except ValueError:  # pathlib refuses a NUL byte
        raise DefinitionError(f"{where}: {definition.weights!r} contains a NUL character") from None
    except RuntimeError:  # pathlib's report of a symlink loop
        raise DefinitionError(f"{where}: {definition.weights!r} is a symlink loop") from None
    if not path.is_relative_to(folder):
        raise DefinitionError(f"{where}: {definition.weights!r} points outside the model folder")
    if not found:
        raise DefinitionError(f"{where}: file {definition.weights!r} not found in the model folder")
    return path


def read_weights_file(definition: Definition, dtype: DType) -> dict[str, np.ndarray]:
    path = resolve_weights_path(definition)
    name = definition.weights
    try:
        with safe_open(path, framework="numpy") as file:
            tensors = {}
            for key in file.keys():  # noqa: SIM118 (safe_open is not iterable)
                stored = file.get_slice(key).get_dtype()
                if key.rsplit(".", 1)[-1] in TRAINING_ONLY:
                    continue
                if stored != dtype.safetensors:
                    raise DefinitionError(
                        f"{name}: tensor {key!r} is {stored}, but the model dtype {dtype.name} needs {dtype.safetensors}"
                    )
                tensors[key] = file.get_tensor(key)
            return tensors
    except SafetensorError as exc:
        raise DefinitionError(f"{name}: not a readable safetensors file ({exc})") from None


def inline_tensor(layer: LayerDef, name: str, value, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
    """A nested list as an array of `shape`: its dimensions are compared with the shape before
    any value is read, and at most as many values are read as the shape holds."""
    where = f"{layer.where}: {name}"
    declared = _first_dims(value)
    if declared != list(shape):
        raise DefinitionError(f"{where} has shape {clip(declared)}, expected {list(shape)}")
    leaves = itertools.islice(_leaves(value), math.prod(shape) + 1)
    if any(isinstance(v, (bool, str)) for v in leaves):
        raise DefinitionError(f"{where}: values must be numbers")
    try:
        with np.errstate(over="raise"):
            return np.array(value, dtype=dtype.numpy)
    except (ValueError, TypeError):
        raise DefinitionError(f"{where}: not a rectangular nested list of numbers") from None
    except (OverflowError, FloatingPointError):
        raise DefinitionError(f"{where}: a value is out of range for {dtype.name}") from None


def _first_dims(value) -> list[int]:
    """The shape a nested list says it has, read down its first items."""
    dims = []
    while isinstance(value, list):
        dims.append(len(value))
        value = value[0] if value else None
    return dims


def _leaves(value):
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def seeded_tensors(built: BuiltLayer, seed: int, shapes: dict, dtype: DType) -> dict[str, np.ndarray]:
    """torch's default initialization (the layer type's seed rule), drawn from a stream per (seed, layer)."""
    layer = built.definition
    rng = np.random.default_rng([seed, layer.index])
    drawn = layer.type.seed(built.params, shapes, rng)  # params with inferred sizes filled in
    return {name: values.astype(dtype.numpy) for name, values in drawn.items()}


def gather_tensors(
    definition: Definition,
    built: list[BuiltLayer],
    modules: list[nn.Module],
    dtype: DType,
    deadline: LoadDeadline | None = None,
) -> list[dict[str, np.ndarray]]:
    """Every layer's tensors, strictly: none missing, none unexpected, every shape exact."""
    from_file = read_weights_file(definition, dtype) if definition.weights else {}
    gathered, missing = [], []
    for built_layer, module in zip(built, modules):
        layer = built_layer.definition
        if deadline is not None:
            deadline.check(f"before the tensors of {layer.label}")
        shapes = expected_tensors(module)
        unexpected_inline = sorted(set(layer.tensors) - set(shapes))
        if unexpected_inline:
            raise DefinitionError(f"{layer.where}: has no tensor {', '.join(unexpected_inline)}")
        tensors = {}
        for name in shapes:
            key = f"{layer.name}.{name}"
            if name in layer.tensors and key in from_file:
                raise DefinitionError(f"{layer.where}: {name} is given both inline and in {definition.weights}")
            if name in layer.tensors:
                tensors[name] = inline_tensor(layer, name, layer.tensors[name], dtype, shapes[name])
            elif key in from_file:
                tensors[name] = from_file.pop(key)
        absent = {n: s for n, s in shapes.items() if n not in tensors}
        if absent and definition.seed is not None:
            tensors.update(seeded_tensors(built_layer, definition.seed, absent, dtype))
        else:
            missing.extend(f"{layer.name}.{n}" for n in absent)
        _check(layer, tensors, shapes, definition)
        gathered.append(tensors)
    if missing:
        raise DefinitionError(
            f"{definition.file.name}: missing tensors {sorted(missing)}; give them inline, "
            f"in a weights file, or set init: {{seed: N}}"
        )
    if from_file:
        raise DefinitionError(f"{definition.weights}: unexpected tensors {sorted(from_file)}")
    return gathered


def _check(layer: LayerDef, tensors: dict, shapes: dict, definition: Definition):
    for name, array in tensors.items():
        if array.shape != shapes[name]:
            raise DefinitionError(
                f"{_origin(layer, name, definition)} has shape {list(array.shape)}, expected {list(shapes[name])}"
            )
        if not np.isfinite(array).all():
            raise DefinitionError(f"{_origin(layer, name, definition)} contains NaN or infinite values")


def _origin(layer: LayerDef, name: str, definition: Definition) -> str:
    """Where a tensor was given: inline, or in the weights file (seeded ones are always valid)."""
    if name in layer.tensors:
        return f"{layer.where}: {name}"
    return f"{definition.weights}: tensor {f'{layer.name}.{name}'!r} for {layer.label}"


def assign_tensors(module: nn.Module, tensors: dict[str, np.ndarray]):
    """Replace the meta placeholders with the loaded values, sharing numpy's memory."""
    for name, array in tensors.items():
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if name in module._parameters:
            module._parameters[name] = nn.Parameter(tensor, requires_grad=False)
        else:
            module._buffers[name] = tensor
    for name in TRAINING_ONLY:
        if module._buffers.get(name) is not None:
            # from numpy, like every tensor here: building a model runs no torch op before fork
            module._buffers[name] = torch.from_numpy(np.zeros((), np.int64))
