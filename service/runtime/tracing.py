"""Trace: the path of a batch through the declared layers, with every layer's output and health.

It runs the layers as declared, one by one (not the optimized serving path), so what it shows
is what the definition says; its outputs agree with /infer to float tolerance.
"""

import math

import torch

from ..stack.deadline import Deadline
from ..stack.health_rules import summarize
from ..stack.trace_steps import StepOptions, TraceStep
from ..tensors.codec import output_tensor
from .inference import decode_inputs
from .served import ServedModel, use_torch_threads_here
from .what_if import read_what_if


def trace(model: ServedModel, request: dict, max_values: int, deadline: Deadline | None = None) -> dict:
    arrays = decode_inputs(model, request)
    model.check_inputs(arrays)
    requested = [output["name"] for output in request.get("outputs") or []]
    model.check_outputs(requested)
    parameters = request.get("parameters") or {}
    what_if = read_what_if(model, parameters, max_values)
    options = StepOptions(max_values, parameters.get("terms"))
    use_torch_threads_here()
    values = {name: torch.from_numpy(array) for name, array in arrays.items()}
    layers = []
    for index, (built, declared_module) in enumerate(zip(model.stack.built, model.stack.layers)):
        if deadline is not None:
            deadline.check(built.name)
        module = what_if.module(built, declared_module)
        arguments = [values[source] for source in built.sources]
        values[built.name] = module(*arguments)
        described = _layer(index, built, module, arguments, values[built.name], options, what_if)
        layers.append(described)
    document = {
        "model_name": model.name,
        "model_version": model.version,
        "max_values": max_values,
        "overrides": what_if.described(),
        "inputs": [{"name": name, **bounded(values[name], max_values)} for name in arrays],
        "layers": layers,
        "outputs": [output_tensor(name, values[name].numpy()) for name in requested or model.stack.output_names],
    }
    if "id" in request:
        document["id"] = request["id"]
    return document


def _layer(index, built, module, arguments, output, options: StepOptions, what_if) -> dict:
    swap = what_if.swaps.get(built.name)
    kind = swap.layer_type if swap else built.definition.type
    params = swap.params if swap else built.params
    health = swap.health if swap else built.health
    described = {
        "index": index,
        "name": built.name,
        "type": kind.name,
        "family": kind.family,
        "inputs": list(built.sources),
        "input_shapes": [list(a.shape) for a in arguments],
        "output": bounded(output, options.max_values),
        "stats": statistics(output),
    }
    if swap:
        described["declared_type"] = swap.declared
    if built.name in what_if.weights:
        described["overridden"] = sorted(what_if.weights[built.name])
    if kind.formula is not None:
        described["formula"] = kind.formula_for(params)
    if kind.trace is not None:
        described["steps"] = [
            _step(step, options.max_values) for step in kind.trace(module, arguments, output, options)
        ]
    if health is not None:
        described["health"] = summarize(health, health.hits(output), output.shape[0], options.max_values)
    return described


def _step(step: TraceStep, max_values: int) -> dict:
    described = {"name": step.name, "label": step.label, **bounded(step.value, max_values, step.shape)}
    if step.running:
        described["running"] = True
    return described


def bounded(tensor: torch.Tensor, max_values: int, shape: tuple[int, ...] | None = None) -> dict:
    """At most max_values of a tensor, flat in row-major order, with its whole shape (`shape` when
    `tensor` holds only the first values of a larger one)."""
    flat = tensor.detach().reshape(-1)
    whole = list(shape if shape is not None else tensor.shape)
    return {"shape": whole, "data": flat[:max_values].numpy(), "truncated": math.prod(whole) > max_values}


def statistics(tensor: torch.Tensor) -> dict:
    """Over the whole batch; min/max/mean/std over the finite values, NaN and Inf counted apart."""
    values = tensor.detach().double()
    finite = values[torch.isfinite(values)]
    described = {"nan": int(torch.isnan(values).sum()), "inf": int(torch.isinf(values).sum())}
    if finite.numel() == 0:
        return {"min": None, "max": None, "mean": None, "std": None, **described}
    return {
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(finite.mean()),
        "std": float(finite.std(unbiased=False)),
        **described,
    }
