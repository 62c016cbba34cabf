"""Flask's JSON through orjson, as on the inference route: numpy arrays written directly, NaN as null."""

import orjson
from flask.json.provider import JSONProvider

from ..tensors.codec import encode_json


class OrjsonProvider(JSONProvider):
    def dumps(self, obj, **kwargs) -> str:
        return encode_json(obj).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)
