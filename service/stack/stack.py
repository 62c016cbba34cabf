"""LayerStack: the built model, a torch module that runs declared layers in order."""

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .deadline import Deadline
from .definition import LayerDef
from .health_rules import HealthRule


@dataclass(frozen=True)
class BuiltLayer:
    """A declared layer after build: where its inputs come from and the shapes it sees."""

    definition: LayerDef
    sources: tuple[str, ...]  # names of model inputs or earlier layers
    params: dict  # hyper-parameters with inferred values filled in
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.definition.name

    @functools.cached_property
    def health(self) -> HealthRule | None:
        """What makes one of its neurons dead or saturated, for its hyper-parameters."""
        rule = self.definition.type.health
        return rule(self.params) if rule else None


class LayerStack(nn.Module):
    """Runs each layer on the outputs it names; returns the declared outputs in order."""

    def __init__(self, layers: list[BuiltLayer], modules: list[nn.Module], inputs: list[str], outputs: list[str]):
        super().__init__()
        self.built = layers
        self.layers = nn.ModuleList(modules)
        self.input_names = list(inputs)
        self.output_names = list(outputs)
        # per sample, from shape inference (build sets them): every value a pass makes, and the answer's
        self.sample_values = 0
        self.answer_values = 0
        self.sample_macs = 0
        # module.forward, not module(...): no hooks are used, and the call machinery costs
        # microseconds per layer, which is most of a small model's forward pass.
        self._steps = [(layer.name, module.forward, layer.sources) for layer, module in zip(layers, modules)]

    def index_limits(self) -> dict[str, tuple[int, str]]:
        """For each input of indices: the bound they must stay below, and the layer that sets it."""
        limits = {}
        for layer in self.built:
            bound = layer.definition.type.index_bound
            if bound is None:
                continue
            for source in layer.sources:
                limit = (layer.params[bound], layer.name)
                limits[source] = min(limits.get(source, limit), limit)
        return limits

    def forward(self, *inputs: torch.Tensor, deadline: Deadline | None = None) -> tuple[torch.Tensor, ...]:
        values = self.run(*inputs, deadline=deadline)
        return tuple(values[name] for name in self.output_names)

    def run(self, *inputs: torch.Tensor, deadline: Deadline | None = None) -> dict[str, torch.Tensor]:
        """Every layer's output (and the inputs), by name; stops between layers once `deadline` has passed."""
        return run_steps(self._steps, self.input_names, inputs, deadline)


def run_steps(steps: list[tuple[str, Callable, tuple[str, ...]]], input_names, inputs, deadline: Deadline | None):
    """Each step (name, function, names of the values it reads) in order: every value by name,
    the inputs included. Between steps, stops once `deadline` has passed."""
    values = dict(zip(input_names, inputs))
    for name, forward, sources in steps:
        if deadline is not None:
            deadline.check(name)
        values[name] = forward(*[values[s] for s in sources])
    return values
