"""Declarative layer stacks: definitions → validated, built, weight-loaded torch modules.

May import: service.errors and service.tensors.dtypes only; no Flask, no gunicorn, no runtime.
Its names load on first use, so that a torch-free module here (limits) costs no torch import.
"""

import importlib

_EXPORTS = {
    "build_stack": ".build",
    "load_stack": ".build",
    "Definition": ".definition",
    "load_definition": ".definition",
    "LAYER_TYPES": ".layers",
    "BuiltLayer": ".stack",
    "LayerStack": ".stack",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
