"""Converters between layerserve model folders and plain PyTorch: import a Sequential, export a stack."""
