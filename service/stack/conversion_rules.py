"""What a torch module must tell, or must not hold, to become a layer of a definition
(service/convert reads these through the registry entries).
"""

from collections.abc import Callable

from torch import nn


def input_shape_from(key: str) -> Callable[[dict], tuple[int, ...] | None]:
    """The per-sample input shape a first layer gives through one hyper-parameter (in_features → (in,))."""

    def shape(params: dict) -> tuple[int, ...] | None:
        value = params.get(key)
        if value is None:
            return None
        return tuple(value) if isinstance(value, list) else (value,)

    return shape


# Settings the registry has no field for, because a served (eval-mode) layer cannot honour them.


def batch_norm_without_running_stats(module: nn.Module) -> str | None:
    if not module.track_running_stats:
        return "track_running_stats=False normalizes with each batch's statistics; a served layer needs running ones"
    return None


def implicit_dim(module: nn.Module) -> str | None:
    if module.dim is None:
        return "dim=None (torch's deprecated implicit choice); give dim explicitly"
    return None


def embedding_max_norm(module: nn.Module) -> str | None:
    if module.max_norm is not None:
        return "max_norm rescales the weights in place at every lookup; apply it to the weights and drop it"
    return None


def pool_returning_indices(module: nn.Module) -> str | None:
    if module.return_indices:
        return "return_indices=True returns a pair; a layer gives one tensor"
    return None
