"""Tensors at the edge: request and response bodies (JSON, binary) ⇄ numpy arrays, and the one
datatype table. May import: numpy, torch dtypes, service.errors. Must not import the runtime, the
server or the API."""
