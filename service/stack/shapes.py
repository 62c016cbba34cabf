"""Per-sample shapes: what a shape rule raises when an input does not fit, and the checks several rules share."""

Shape = tuple[int, ...]


class ShapeMismatch(Exception):
    """An input shape that a layer cannot take: `expected` describes what it needs.

    When what it needs depends on other inputs, `expected` says "{references}" where their
    names belong, and `references` holds their operand indices.
    """

    def __init__(self, expected: str, got: Shape, operand: int = 0, references: tuple[int, ...] = ()):
        super().__init__(expected)
        self.expected = expected
        self.got = got
        self.operand = operand
        self.references = references


class ParamError(Exception):
    """A hyper-parameter that is valid on its own but not for this input."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def sample_dim(field: str, dim: int, shape: Shape) -> int:
    """Turn a torch dim (counting the batch) into an index into the per-sample shape."""
    rank = len(shape) + 1
    full = dim + rank if dim < 0 else dim
    if full == 0:
        raise ParamError(field, f"{dim} is the batch dimension; layers act on each sample alone")
    if not 0 < full < rank:
        raise ParamError(field, f"{dim} is out of range for input shape [batch, {format_dims(shape)}]")
    return full - 1


def format_dims(shape: Shape) -> str:
    """[2, 3] as "2, 3", for messages that wrap it in brackets."""
    return ", ".join(map(str, shape))


def channels(params, key, shape):
    """Check (or infer) the channel count a layer reads from the first per-sample dimension."""
    if params[key] is None:
        return {**params, key: shape[0]}
    if params[key] != shape[0]:
        raise ShapeMismatch(f"{params[key]} channels in the first dimension", shape)
    return params


def check_spatial(shape: Shape, dims: int) -> None:
    """Channels first, then `dims` spatial dimensions, as torch's 1d and 2d layers read a sample."""
    if len(shape) != dims + 1:
        names = ["L"] if dims == 1 else ["H", "W"]
        raise ShapeMismatch(f"per-sample shape [C, {', '.join(names)}]", shape)
