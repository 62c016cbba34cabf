"""The definition format, as marshmallow schemas: the specification of model.yaml."""

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates, validates_schema

from ..errors import cut
from ..tensors.dtypes import INDEX_DTYPES, MODEL_DTYPES

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_name = validate.Regexp(NAME_PATTERN, error="must be letters, digits and underscores, not starting with a digit")

# Tensors a layer may carry inline, by torch's state-dict names.
TENSOR_FIELDS = ("weight", "bias", "running_mean", "running_var")


class InputSchema(Schema):
    name = fields.String(required=True, validate=_name)
    shape = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "per-sample shape; the batch dimension is implicit and comes first"},
    )
    dtype = fields.String(
        load_default=None,
        validate=validate.OneOf(INDEX_DTYPES),
        metadata={"description": "only for integer indices (Embedding); other inputs have the model's dtype"},
    )


class InitSchema(Schema):
    seed = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=2**63 - 1))


class DynamicBatchingSchema(Schema):
    max_queue_delay_microseconds = fields.Integer(
        strict=True, load_default=0, validate=validate.Range(min=0, max=1_000_000)
    )
    preferred_batch_size = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1)), load_default=list)


class LayerSchema(Schema):
    """The fields every layer has; the rest are its type's hyper-parameters and inline tensors."""

    class Meta:
        unknown = INCLUDE

    name = fields.String(required=True, validate=_name)
    type = fields.String(required=True)  # one of LAYER_TYPES: checked by load_definition, with a suggestion
    inputs = fields.List(fields.String(), validate=validate.Length(min=1))


class DefinitionSchema(Schema):
    name = fields.String(validate=_name)
    version = fields.Integer(strict=True, load_default=1, validate=validate.Range(min=1))
    description = fields.String(load_default="")
    dtype = fields.String(load_default="float32", validate=validate.OneOf(MODEL_DTYPES))
    max_batch_size = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1))
    inputs = fields.List(fields.Nested(InputSchema), required=True, validate=validate.Length(min=1))
    layers = fields.List(fields.Nested(LayerSchema), required=True, validate=validate.Length(min=1))
    outputs = fields.List(fields.String(), validate=validate.Length(min=1))
    weights = fields.String(load_default=None)
    init = fields.Nested(InitSchema, load_default=None)
    dynamic_batching = fields.Nested(DynamicBatchingSchema, load_default=None)
    example = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        load_default=None,
        metadata={"description": "a batch per input (nested lists), offered by the explorer's form"},
    )

    @validates_schema
    def names_are_unique(self, data, **kwargs):
        # Nested like marshmallow's own errors, so the layer is named with its file line.
        owners: dict[str, str] = {}
        for where, kind in (("inputs", "input"), ("layers", "layer")):
            for index, item in enumerate(data.get(where, [])):
                if item["name"] in owners:
                    message = f"also the name of {owners[item['name']]}"
                    raise ValidationError({where: {index: {"name": [message]}}})
                owners[item["name"]] = f"{kind} #{index}"

    @validates_schema
    def preferred_batches_fit(self, data, **kwargs):
        batching, limit = data.get("dynamic_batching"), data.get("max_batch_size")
        too_big = [size for size in (batching or {}).get("preferred_batch_size", []) if limit and size > limit]
        if too_big:
            raise ValidationError(f"{too_big} exceed max_batch_size {limit}", "dynamic_batching.preferred_batch_size")

    @validates("outputs")
    def outputs_are_unique(self, value, **kwargs):
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValidationError(f"listed more than once: {', '.join(repeated)}")


def flatten_messages(messages, prefix="") -> list[str]:
    """Turn marshmallow's nested error dict into 'layers[2].dim: message' lines."""
    if isinstance(messages, list):
        return [f"{prefix}: {m}" if prefix else str(m) for m in messages]
    lines = []
    for key, value in messages.items():
        if isinstance(key, int):
            path = f"{prefix}[{key}]"
        elif key == "_schema":
            path = prefix
        else:
            path = f"{prefix}.{cut(str(key))}" if prefix else cut(str(key))
        lines.extend(flatten_messages(value, path))
    return lines
