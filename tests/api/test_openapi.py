"""/openapi.json: a valid OpenAPI 3 document that documents every route the app serves."""

import re

import pytest

from service.api import infer_route

UNDOCUMENTED_ENDPOINTS = ("static", "api-docs.", "explorer.", "docs_assets.")  # files, the document, the pages
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document(app):
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def openapi_path(rule: str) -> str:
    """Flask's /models/<name> (or <int:name>) as OpenAPI's /models/{name}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def served_operations(app) -> set[tuple[str, str]]:
    flask_routes = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.startswith(UNDOCUMENTED_ENDPOINTS)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    return flask_routes | {(openapi_path(rule), "post") for rule in infer_route.RULES}


@pytest.mark.parametrize("rule", infer_route.RULES)
def test_the_infer_route_serves_what_it_documents(rule):
    path = rule.replace("<name>", "fold").replace("<version>", "1")
    assert infer_route.INFER_PATH.match(path)


def documented_operations(document) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS}


def test_is_openapi_3(document, app):
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "layerserve"
    assert document["info"]["version"]
    assert isinstance(document["paths"], dict) and document["paths"]


def test_every_route_is_documented_and_nothing_else(document, app):
    assert documented_operations(document) == served_operations(app)


def test_every_operation_says_what_it_does(document):
    for path, item in document["paths"].items():
        for method in HTTP_METHODS & set(item):
            assert item[method].get("summary"), f"{method.upper()} {path} has no docstring"
            assert "200" in item[method]["responses"]


def test_path_parameters_are_declared(document):
    for path, item in document["paths"].items():
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{([^}]+)}", path)), path


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/v2/models/{name}/infer", "InferRequest"),
        ("/v2/models/{name}/versions/{version}/infer", "InferRequest"),
        ("/v1/models/{name}:predict", "PredictRequest"),
    ],
)
def test_request_bodies_reference_their_schema(document, path, schema):
    body = document["paths"][path]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    assert schema in document["components"]["schemas"]


def test_infer_request_schema_requires_inputs(document):
    infer_request = document["components"]["schemas"]["InferRequest"]
    assert "inputs" in infer_request["required"]
    assert set(infer_request["properties"]) == {"id", "parameters", "inputs", "outputs"}


def test_tensor_fields_are_documented_as_the_server_reads_them(document):
    # schemathesis sent what the document allowed and the server refused: null data or instances
    # (untyped fields read as "anything"), and dimensions beyond int64 (no maximum)
    schemas = document["components"]["schemas"]
    assert schemas["RequestInput"]["properties"]["data"]["type"] == "array"
    assert schemas["RequestInput"]["properties"]["shape"]["items"]["maximum"] == 2**63 - 1
    instance = schemas["PredictRequest"]["properties"]["instances"]["items"]
    assert instance["anyOf"] == [{"type": "array"}, {"type": "object"}]


@pytest.mark.parametrize("path", ["/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"])
def test_the_binary_extension_header_is_documented(document, path):
    # the infer route documents an octet-stream body, which the server takes only with this header
    (header,) = [p for p in document["paths"][path]["post"]["parameters"] if p["in"] == "header"]
    assert header["name"] == "Inference-Header-Content-Length"
    assert header["schema"] == {"type": "integer", "minimum": 0}


def test_documented_error_body_is_the_one_sent(document, app):
    sent = app.test_client().get("/v2/models/nope").get_json()
    error = document["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]["schema"]
    name = error["$ref"].rsplit("/", 1)[-1]
    assert set(document["components"]["schemas"][name]["properties"]) == set(sent)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/v2/models/{name}/trace",
        "/v2/models/{name}/versions/{version}/trace",
        "/v1/models/{name}:predict",
    ],
)
def test_inference_says_it_may_need_the_bearer_token(document, path):
    operation = document["paths"][path]["post"]
    assert operation["security"] == [{}, {"bearer": []}]  # open unless LAYERSERVE_INFER_TOKEN is set
    assert "401" in operation["responses"]
    assert "bearer" in document["components"]["securitySchemes"]
