"""Request and response schemas of the HTTP API: they validate bodies and generate /openapi.json."""

from marshmallow import INCLUDE, Schema, fields, validate

from ..tensors.codec import BINARY_CONTENT_TYPE, BINARY_HEADER

# A request id is echoed in the answer: an identifier, not a payload.
MAX_ID_CHARS = 256

# Dimensions are int64, as numpy's; the bound also puts the limit in /openapi.json.
_shape = fields.List(fields.Integer(strict=True, validate=validate.Range(min=0, max=2**63 - 1)), required=True)


class RequestInputSchema(Schema):
    name = fields.String(required=True)
    shape = _shape
    datatype = fields.String(required=True, metadata={"example": "FP32"})
    data = fields.Raw(
        metadata={
            "type": "array",  # a list, never null: what the codec takes
            "description": "numbers, flat (row-major) or nested to match shape; "
            "absent when parameters.binary_data_size places the tensor in the binary part",
        }
    )
    parameters = fields.Dict()


class RequestOutputSchema(Schema):
    name = fields.String(required=True)
    parameters = fields.Dict()


class InferRequestSchema(Schema):
    id = fields.String(validate=validate.Length(max=MAX_ID_CHARS), metadata={"description": "echoed in the response"})
    parameters = fields.Dict()
    inputs = fields.List(fields.Nested(RequestInputSchema), required=True, validate=validate.Length(min=1))
    outputs = fields.List(
        fields.Nested(RequestOutputSchema), metadata={"description": "outputs to return; default: all"}
    )


class ResponseTensorSchema(Schema):
    name = fields.String()
    shape = fields.List(fields.Integer())
    datatype = fields.String()
    data = fields.Raw(metadata={"description": "flat (row-major) list of numbers"})


class BinaryHeaderSchema(Schema):
    """The binary tensor extension's header, for /openapi.json; tensors/codec.py reads it."""

    header_length = fields.Integer(
        data_key=BINARY_HEADER,
        validate=validate.Range(min=0),
        metadata={"description": f"the JSON header's length in bytes; a {BINARY_CONTENT_TYPE} body needs it"},
    )


class InferResponseSchema(Schema):
    model_name = fields.String()
    model_version = fields.String()
    id = fields.String()
    outputs = fields.List(fields.Nested(ResponseTensorSchema))


class TensorMetadataSchema(Schema):
    name = fields.String()
    datatype = fields.String()
    shape = fields.List(fields.Integer(), metadata={"description": "-1 marks the batch dimension"})


class ModelMetadataSchema(Schema):
    name = fields.String()
    versions = fields.List(fields.String())
    platform = fields.String()
    description = fields.String()
    max_batch_size = fields.Integer()
    inputs = fields.List(fields.Nested(TensorMetadataSchema))
    outputs = fields.List(fields.Nested(TensorMetadataSchema))
    example = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "the definition's example batch per input, when it has one"},
    )


class ModelStatusSchema(Schema):
    name = fields.String()
    versions = fields.List(fields.String())
    platform = fields.String()
    state = fields.String(metadata={"description": "READY, LOADING or UNAVAILABLE"})
    ready = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={"description": "the load error of an unavailable model"})


class ModelListSchema(Schema):
    models = fields.List(fields.Nested(ModelStatusSchema))


class StrictBoolean(fields.Boolean):
    """JSON true or false only: not 0, 1 or "true"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not bool:
            raise self.make_error("invalid")
        return value


class RepositoryIndexRequestSchema(Schema):
    ready = StrictBoolean(metadata={"description": "true: list only the models that are ready"})


class RepositoryModelSchema(Schema):
    """One entry of the repository index, as the Open Inference Protocol's repository extension has it."""

    name = fields.String()
    version = fields.String(allow_none=True)
    state = fields.String(metadata={"description": "READY, LOADING or UNAVAILABLE"})
    reason = fields.String(
        allow_none=True, metadata={"description": "why it is unavailable: a load error, unloaded, not loaded"}
    )


class ServerMetadataSchema(Schema):
    name = fields.String()
    version = fields.String()
    extensions = fields.List(fields.String())


class HealthSchema(Schema):
    live = fields.Boolean()
    ready = fields.Boolean()


class ModelReadySchema(Schema):
    name = fields.String()
    ready = fields.Boolean()


class TensorInfoSchema(Schema):
    name = fields.String()
    shape = fields.List(fields.Integer())
    count = fields.Integer()
    values = fields.Raw(metadata={"description": "nested list; only with ?values=true"})

    def get_attribute(self, obj, attr, default):
        # A plain dict lookup: marshmallow would otherwise fall back to dict.values for "values".
        return obj.get(attr, default)


# A layer's family and formula read the same in its description, its trace and its type.
_family = fields.String(
    metadata={
        "description": "linear, bilinear, convolution, activation, normalization, pooling, shape, "
        "identity, lookup or combination (GET /v2/layer-types)"
    }
)
_formula = fields.String(metadata={"description": "an activation's formula, with its hyper-parameters"})


class LayerDescriptionSchema(Schema):
    index = fields.Integer()
    name = fields.String()
    type = fields.String()
    family = _family
    hyperparameters = fields.Dict()
    formula = _formula
    weight_layout = fields.String(
        metadata={"description": "how the weight is laid out: neurons × inputs (Linear) or inputs × neurons (Dense)"}
    )
    inputs = fields.List(fields.String())
    input_shapes = fields.List(fields.List(fields.Integer()))
    output_shape = fields.List(fields.Integer())
    parameters = fields.List(fields.Nested(TensorInfoSchema))
    buffers = fields.List(fields.Nested(TensorInfoSchema))
    parameter_count = fields.Integer()
    parameter_bytes = fields.Integer()
    macs = fields.Integer(metadata={"description": "multiply-adds per sample"})


class OneLayerSchema(LayerDescriptionSchema):
    model_name = fields.String()
    model_version = fields.String()


class ServingStepSchema(Schema):
    name = fields.String()
    type = fields.String()
    layers = fields.List(fields.String(), metadata={"description": "the declared layers this step computes"})


class LayersSchema(Schema):
    model_name = fields.String()
    model_version = fields.String()
    layers = fields.List(fields.Nested(LayerDescriptionSchema))
    parameter_count = fields.Integer()
    parameter_bytes = fields.Integer()
    macs = fields.Integer(metadata={"description": "multiply-adds per sample"})
    serving_path = fields.List(
        fields.Nested(ServingStepSchema),
        metadata={"description": "what inference runs: Dropout/Identity dropped, BatchNorm and linear chains fused"},
    )
    serving_backend = fields.String(
        metadata={
            "description": "what computes the serving path in this worker: numpy (linear layers, simple "
            "activations and combinators, one thread), torch, or, for a model past 1 MiB of parameters, "
            "'numpy for one row, torch for more'"
        }
    )


class HyperparameterSchema(Schema):
    name = fields.String()
    required = fields.Boolean()
    default = fields.Raw(metadata={"description": "absent when required"})


class LayerTypeSchema(Schema):
    name = fields.String()
    family = fields.String()
    inputs = fields.Integer(metadata={"description": "how many inputs it reads (at least this many when variadic)"})
    variadic = fields.Boolean()
    hyperparameters = fields.List(fields.Nested(HyperparameterSchema))
    shape_rule = fields.String(metadata={"description": "types with the same rule give the same output shape"})
    numpy_step = fields.Boolean(metadata={"description": "served by the numpy path when every layer has one"})
    trace_steps = fields.List(fields.String(), metadata={"description": "the steps a trace shows inside it, in order"})
    health = fields.Boolean(metadata={"description": "true when its neurons are counted dead or saturated"})
    formula = _formula
    weight_layout = fields.String()


class LayerTypesSchema(Schema):
    layer_types = fields.List(fields.Nested(LayerTypeSchema))


class LayerQuerySchema(Schema):
    values = fields.Boolean(load_default=False, metadata={"description": "include parameter values"})


class PredictRequestSchema(Schema):
    instances = fields.List(
        fields.Raw(
            metadata={
                "anyOf": [{"type": "array"}, {"type": "object"}],  # never null or a bare number
                "description": "a sample: a list of numbers, or an object keyed by input name for several inputs",
            }
        ),
        required=True,
        validate=validate.Length(min=1),
    )


class PredictResponseSchema(Schema):
    predictions = fields.List(fields.Raw())


class ErrorSchema(Schema):
    error = fields.String(metadata={"description": "what was wrong, and where"})
    request_id = fields.String()


class BoundedTensorSchema(Schema):
    shape = fields.List(fields.Integer(), metadata={"description": "the whole tensor's shape"})
    data = fields.Raw(metadata={"description": "at most max_values values, flat, row-major"})
    truncated = fields.Boolean()


class StatisticsSchema(Schema):
    min = fields.Float(allow_none=True)
    max = fields.Float(allow_none=True)
    mean = fields.Float(allow_none=True)
    std = fields.Float(allow_none=True)
    nan = fields.Integer()
    inf = fields.Integer()


class StepSchema(BoundedTensorSchema):
    name = fields.String(
        metadata={
            "description": "Linear, Dense: terms ([batch, out, in], each xᵢ·wᵢⱼ; sent when in × out ≤ 4096 or "
            "parameters.terms is true), product, bias, output. LayerNorm, BatchNorm1d: mean, variance, "
            "normalized, output. RMSNorm: rms, normalized, output. GET /v2/layer-types lists each type's steps."
        }
    )
    label = fields.String(
        metadata={"description": "the step as written by hand: x·Wᵀ (Linear), x·W (Dense), √(mean(x²) + eps), …"}
    )
    running = fields.Boolean(
        metadata={"description": "true for statistics kept from training (BatchNorm1d in eval), not from this batch"}
    )


class TraceParametersSchema(Schema):
    """What a trace may be asked beyond an infer request: more detail, and what-if overrides."""

    class Meta:
        unknown = INCLUDE  # the infer request's own parameters pass through

    terms = StrictBoolean(
        metadata={"description": "true: send Linear/Dense terms for every size (bounded by max_values); false: never"}
    )
    weights = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={
            "description": "what if: {'<layer>.<parameter>': nested numbers} replaces a tensor for this request "
            "only (same shape; at most LAYERSERVE_TRACE_MAX_VALUES values)",
            "example": {"linear.weight": [[0, 1], [1, 0]]},
        },
    )
    activations = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={
            "description": "what if: {'<layer>': '<type>'} runs an activation as another one-input activation "
            "with the same shape rule (default hyper-parameters), for this request only",
            "example": {"act": "Sigmoid"},
        },
    )


class TraceRequestSchema(InferRequestSchema):
    parameters = fields.Nested(TraceParametersSchema)


class OverridesSchema(Schema):
    weights = fields.Dict(
        keys=fields.String(), values=fields.List(fields.Integer()), metadata={"description": "replaced tensors' shapes"}
    )
    activations = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.String()),
        metadata={"description": "{'<layer>': {'declared': type, 'used': type}}"},
    )


class LayerHealthSchema(Schema):
    name = fields.String()
    type = fields.String()
    rule = fields.String(metadata={"description": "zero (ReLU) or saturation (Sigmoid, Tanh)"})
    neurons = fields.Integer()
    samples = fields.Integer()
    fraction = fields.Float(metadata={"description": "share of (sample, neuron) pairs meeting the rule"})
    dead = fields.Integer(metadata={"description": "neurons zero for every sample"})
    saturated = fields.Integer(metadata={"description": "neurons saturated for every sample"})
    per_neuron = fields.List(fields.Float())
    truncated = fields.Boolean()


class TracedInputSchema(BoundedTensorSchema):
    name = fields.String()


class TracedLayerSchema(Schema):
    index = fields.Integer()
    name = fields.String()
    type = fields.String()
    family = _family
    declared_type = fields.String(metadata={"description": "the definition's type, when a what-if swapped it"})
    formula = _formula
    inputs = fields.List(fields.String())
    input_shapes = fields.List(fields.List(fields.Integer()))
    output = fields.Nested(BoundedTensorSchema)
    stats = fields.Nested(StatisticsSchema)
    steps = fields.List(fields.Nested(StepSchema))
    health = fields.Nested(LayerHealthSchema)
    overridden = fields.List(fields.String(), metadata={"description": "its tensors a what-if replaced"})


class TraceResponseSchema(Schema):
    model_name = fields.String()
    model_version = fields.String()
    id = fields.String()
    max_values = fields.Integer()
    overrides = fields.Nested(OverridesSchema, metadata={"description": "the what-if this trace ran with"})
    inputs = fields.List(fields.Nested(TracedInputSchema))
    layers = fields.List(fields.Nested(TracedLayerSchema))
    outputs = fields.List(fields.Nested(ResponseTensorSchema))


class HealthReportSchema(Schema):
    model_name = fields.String()
    model_version = fields.String()
    samples = fields.Integer()
    forward_passes = fields.Integer()
    sample_every = fields.Integer(metadata={"description": "one forward pass in this many is observed"})
    layers = fields.List(fields.Nested(LayerHealthSchema))
