"""Hyper-parameter fields the layer schemas share: strict integers, finite floats, torch's size arguments."""

from marshmallow import ValidationError, fields, validate


def positive_int(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)


def finite_float(default, **kwargs):
    return fields.Float(allow_nan=False, load_default=default, **kwargs)


class Sizes(fields.Field):
    """torch's "int or tuple" size arguments: one integer for every spatial dimension, or a list
    of one per dimension; `words` are strings also allowed (a convolution's padding="same")."""

    def __init__(self, dims: int, minimum: int, words: tuple[str, ...] = (), none_items: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.dims, self.minimum, self.words, self.none_items = dims, minimum, words, none_items

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value in self.words:
            return value
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) != self.dims:
            raise ValidationError(self._expected())
        for item in items:
            if not (item is None and self.none_items) and (type(item) is not int or item < self.minimum):
                raise ValidationError(self._expected())
        return value

    def _expected(self) -> str:
        item = f"an integer ≥ {self.minimum}" + (" or null" if self.none_items else "")
        words = "".join(f" or {word!r}" for word in self.words)
        return f"must be {item}, or a list of {self.dims} of them{words}"


def per_dim(value, dims: int) -> tuple:
    """A Sizes value as one entry per spatial dimension."""
    return tuple(value) if isinstance(value, list) else (value,) * dims
