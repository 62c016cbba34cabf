"""Bounds on what a definition may ask for, kept free of torch so that configuration can read them."""

from dataclasses import dataclass

# Parameter values a model may hold unless the caller says otherwise (2 GB in float32): a typo
# such as 1000000 features stops at load.
DEFAULT_MAX_PARAMETERS = 500_000_000

# A definition is meant to be read by people; weights belong in a safetensors file. 256 KiB
# holds the largest bundled definition sixty times over (or ~25,000 inline values); libyaml
# reads it in well under a second, since each number still costs a Python call.
DEFAULT_MAX_DEFINITION_BYTES = 256 * 1024

# Tensor values one request may make: the inputs and every layer's output, for the whole batch
# (256 MiB in float32). A model whose single sample needs more is refused at load.
DEFAULT_MAX_REQUEST_VALUES = 64 * 1024 * 1024

# Output values one answer may carry: as JSON a value takes up to ~15 bytes, so this keeps an
# answer near the request body limit (64 MiB) in size.
DEFAULT_MAX_ANSWER_VALUES = 4 * 1024 * 1024

# Multiply-adds one request may ask for (shape inference counts them per sample): a few seconds
# on one core. A single layer cannot be stopped midway, and a model's warm-up in each worker runs
# a sample several times, so a model whose single sample needs more is refused at load.
DEFAULT_MAX_REQUEST_MACS = 20_000_000_000

# Seconds a model folder may take to load (read, validate, build, load its tensors).
DEFAULT_LOAD_TIMEOUT = 20.0


@dataclass(frozen=True)
class ModelLimits:
    """The bounds a model is loaded and served under; each names its setting in the error it raises."""

    max_parameters: int = DEFAULT_MAX_PARAMETERS
    max_definition_bytes: int = DEFAULT_MAX_DEFINITION_BYTES
    max_request_values: int = DEFAULT_MAX_REQUEST_VALUES
    max_answer_values: int = DEFAULT_MAX_ANSWER_VALUES
    max_request_macs: int = DEFAULT_MAX_REQUEST_MACS


DEFAULT_LIMITS = ModelLimits()
