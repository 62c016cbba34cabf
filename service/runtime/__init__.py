"""A served model: its signature and limits, inference, dynamic batching, traces, layer
descriptions, activation health, and the repository that loads model folders. May import: stack,
tensors, sharing, service.errors. Must not import the API (no Flask) or the server (no gunicorn)."""
