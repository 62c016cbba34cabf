"""Declarative layer stacks: definitions → validated, built, weight-loaded torch modules."""

from .build import build_stack, load_stack
from .definition import Definition, load_definition
from .layers import LAYER_TYPES
from .stack import BuiltLayer, LayerStack

__all__ = ["LAYER_TYPES", "BuiltLayer", "Definition", "LayerStack", "build_stack", "load_definition", "load_stack"]
