"""Definition → LayerStack: wire each layer to its inputs, infer shapes, load the tensors."""

import math
from pathlib import Path

from ..errors import DefinitionError
from ..tensors.dtypes import BY_NAME, DType
from .deadline import LoadDeadline
from .definition import Definition, LayerDef, load_definition
from .limits import DEFAULT_LIMITS, ModelLimits
from .shapes import ParamError, ShapeMismatch
from .stack import BuiltLayer, LayerStack
from .weights import assign_tensors, expected_tensors, gather_tensors


def build_stack(
    definition: Definition, limits: ModelLimits = DEFAULT_LIMITS, deadline: LoadDeadline | None = None
) -> LayerStack:
    dtype = BY_NAME[definition.dtype]
    shapes = {i.name: i.shape for i in definition.inputs}
    _check_inputs(definition, limits)
    built, modules, previous = [], [], None
    for layer in definition.layers:
        if deadline is not None:
            deadline.check(f"before {layer.label}")
        sources = _sources(definition, layer, previous)
        params, output_shape = _infer(definition, layer, sources, shapes)
        shapes[layer.name] = output_shape
        built.append(BuiltLayer(layer, sources, params, tuple(shapes[s] for s in sources), output_shape))
        modules.append(_build(layer, params, dtype))
        previous = layer.name
    _check_outputs(definition, shapes)
    sample_values, answer_values = _check_budget(definition, built, modules, limits)
    sample_macs = _check_work(built, limits)
    for module, tensors in zip(modules, gather_tensors(definition, built, modules, dtype, deadline)):
        assign_tensors(module, tensors)
    stack = LayerStack(built, modules, [i.name for i in definition.inputs], definition.outputs)
    stack.sample_values, stack.answer_values, stack.sample_macs = sample_values, answer_values, sample_macs
    return stack.eval().requires_grad_(False)


def load_stack(
    folder: Path, limits: ModelLimits = DEFAULT_LIMITS, deadline: LoadDeadline | None = None
) -> tuple[Definition, LayerStack]:
    definition = load_definition(folder, limits.max_definition_bytes, deadline)
    return definition, build_stack(definition, limits, deadline)


def _check_inputs(definition: Definition, limits: ModelLimits) -> None:
    """An input of one sample must fit in what a request may make: a warm-up would allocate it."""
    for spec in definition.inputs:
        values = math.prod(spec.shape)
        if values > limits.max_request_values:
            raise DefinitionError(
                f"{definition.file.name}: input {spec.name!r} of shape {list(spec.shape)} holds {values:,} values "
                f"per sample, over the limit of {limits.max_request_values:,} a request may make "
                "(LAYERSERVE_MAX_REQUEST_VALUES)"
            )


def _check_budget(definition: Definition, built: list[BuiltLayer], modules, limits: ModelLimits) -> tuple[int, int]:
    """Refuse a model too big to hold before any of its tensors is allocated (the modules are on
    meta), and one whose single sample would make more values than a request may (a pool or
    padding can make them without any parameter). Returns the values one sample makes (inputs
    and every layer's output, all alive until the answer) and those of its answer."""
    parameters = 0
    activations = sum(math.prod(spec.shape) for spec in definition.inputs)
    for layer, module in zip(built, modules):
        parameters += sum(math.prod(shape) for shape in expected_tensors(module).values())
        if parameters > limits.max_parameters:
            raise DefinitionError(
                f"{layer.definition.where}: the model needs {parameters:,} parameter values up to this layer, "
                f"over the limit of {limits.max_parameters:,} (LAYERSERVE_MAX_MODEL_PARAMETERS)"
            )
        activations += math.prod(layer.output_shape)
        if activations > limits.max_request_values:
            raise DefinitionError(
                f"{layer.definition.where}: its output {list(layer.output_shape)} brings the values one sample "
                f"makes to {activations:,}, over the limit of {limits.max_request_values:,} a request may make "
                "(LAYERSERVE_MAX_REQUEST_VALUES)"
            )
    answer = sum(math.prod(layer.output_shape) for layer in built if layer.name in definition.outputs)
    if answer > limits.max_answer_values:
        raise DefinitionError(
            f"{definition.file.name}: outputs {definition.outputs} hold {answer:,} values per sample, over the "
            f"limit of {limits.max_answer_values:,} an answer may carry (LAYERSERVE_MAX_ANSWER_VALUES)"
        )
    return activations, answer


def _check_work(built: list[BuiltLayer], limits: ModelLimits) -> int:
    """The multiply-adds one sample needs, refused past what a request may ask for: a layer cannot
    be stopped midway, and each worker's warm-up runs a sample before it serves."""
    total = 0
    for layer in built:
        total += layer.definition.type.macs(layer.params, list(layer.input_shapes), layer.output_shape)
        if total > limits.max_request_macs:
            raise DefinitionError(
                f"{layer.definition.where}: one sample needs {total:,} multiply-adds up to this layer, over the "
                f"limit of {limits.max_request_macs:,} a request may ask for (LAYERSERVE_MAX_REQUEST_MACS)"
            )
    return total


def _sources(definition: Definition, layer: LayerDef, previous: str | None) -> tuple[str, ...]:
    if layer.inputs is None:
        if previous is None and len(definition.inputs) > 1:
            names = [i.name for i in definition.inputs]
            raise DefinitionError(f"{layer.where}: the model has inputs {names}; name the ones it takes in `inputs`")
        sources = (previous or definition.inputs[0].name,)
    else:
        sources = tuple(layer.inputs)
    known = [i.name for i in definition.inputs] + [d.name for d in definition.layers[: layer.index]]
    for source in sources:
        if source not in known:
            raise DefinitionError(
                f"{layer.where}: input {source!r} is neither a model input nor an earlier layer ({', '.join(known)})"
            )
    arity, variadic = layer.type.arity, layer.type.variadic
    if len(sources) < arity or (len(sources) > arity and not variadic):
        takes = f"{arity} or more inputs" if variadic else f"{arity} input(s)"
        raise DefinitionError(f"{layer.where}: takes {takes}, got {len(sources)}: {list(sources)}")
    _check_index_inputs(definition, layer, sources)
    return sources


def _check_index_inputs(definition: Definition, layer: LayerDef, sources) -> None:
    """Integer inputs hold indices: only a layer that looks indices up (Embedding) reads them, and it reads nothing else."""
    index_dtypes = {i.name: i.dtype for i in definition.inputs if i.dtype}
    for source in sources:
        if layer.type.index_bound and source not in index_dtypes:
            raise DefinitionError(
                f"{layer.where} looks up integer indices, but {_describe(definition, source)} holds "
                f"{definition.dtype} values; give it a model input declared with dtype: int64 (or int32)"
            )
        if not layer.type.index_bound and source in index_dtypes:
            raise DefinitionError(
                f"{layer.where} computes on {definition.dtype} values, but input {source!r} holds "
                f"{index_dtypes[source]} indices; only Embedding reads indices"
            )


def _infer(definition: Definition, layer: LayerDef, sources, shapes):
    try:
        return layer.type.infer(layer.params, [shapes[s] for s in sources])
    except ShapeMismatch as exc:
        source = sources[exc.operand]
        expected = exc.expected
        if exc.references:
            expected = expected.format(
                references=" and ".join(_describe(definition, sources[i]) for i in exc.references)
            )
        raise DefinitionError(
            f"{layer.where} expects {expected}, but {_describe(definition, source)} gives per-sample shape {list(exc.got)}"
        ) from None
    except ParamError as exc:
        raise DefinitionError(f"{layer.where}: {exc.field}: {exc}") from None


def _build(layer: LayerDef, params: dict, dtype: DType):
    """The module, on the meta device; torch refuses sizes beyond what it can index."""
    try:
        return layer.type.build(params, dtype.torch)
    except (TypeError, ValueError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0]
        raise DefinitionError(f"{layer.where}: torch cannot build it with {params}: {reason}") from None


def _describe(definition: Definition, source: str) -> str:
    is_input = any(i.name == source for i in definition.inputs)
    return f"{'input' if is_input else 'layer'} {source!r}"


def _check_outputs(definition: Definition, shapes):
    for name in definition.outputs:
        if name not in shapes or name in {i.name for i in definition.inputs}:
            layers = [layer.name for layer in definition.layers]
            raise DefinitionError(f"{definition.file.name}: outputs: {name!r} is not a layer ({', '.join(layers)})")
