"""Bounds on what a definition may ask for, kept free of torch so that configuration can read them."""

# Parameter values a model may hold unless the caller says otherwise (2 GB in float32): a typo
# such as 1000000 features stops at load.
DEFAULT_MAX_PARAMETERS = 500_000_000
