"""layerserve: serve declarative torch layer stacks, and explain every layer."""

__version__ = "0.1.0"
