"""The repository extension: index, load and unload behind the admin token; the optional inference token."""

import pytest

from .helpers import app_over, error_of, infer_body, output, write_models

TOKEN = "s3cret-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}

RELU = """
inputs: [{name: x, shape: [2]}]
layers:
  - {name: scale, type: Linear, in_features: 2, out_features: 2, weight: [[%s, 0.0], [0.0, 1.0]], bias: [0.0, 0.0]}
"""


@pytest.fixture
def models(tmp_path):
    return write_models(tmp_path / "models", {"fold": None, "scaled": RELU % "2.0"})


@pytest.fixture
def client(models):
    return app_over(models, ADMIN_TOKEN=TOKEN).test_client()


def scaled(client, **headers):
    return client.post("/v2/models/scaled/infer", json=infer_body("x", [[1.0, 1.0]]), headers=headers)


def states(client, **body):
    response = client.post("/v2/repository/index", json=body, headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return {entry["name"]: (entry["state"], entry["reason"]) for entry in response.get_json()}


def test_without_an_admin_token_the_repository_endpoints_are_disabled(models):
    client = app_over(models).test_client()
    for path in ("/v2/repository/index", "/v2/repository/models/fold/load", "/v2/repository/models/fold/unload"):
        response = client.post(path, headers={"Authorization": "Bearer anything"})
        assert response.status_code == 403
        assert "set LAYERSERVE_ADMIN_TOKEN" in error_of(response)
    assert output(client.post("/v2/models/fold/infer", json=infer_body("x", [[1, 0]])), "act")["data"] == [1, 0]


@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        (None, "needs a bearer token"),
        ("Basic czNjcmV0", "needs a bearer token"),
        ("Bearer ", "needs a bearer token"),
        ("Bearer s3cret-admin-tokeN", "not valid"),
        ("Bearer s3cret-admin-token-and-more", "not valid"),
    ],
)
def test_the_repository_needs_the_exact_admin_token(client, authorization, fragment):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.post("/v2/repository/models/scaled/unload", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert fragment in error_of(response)
    assert output(scaled(client), "scale")["data"] == [2.0, 1.0]  # nothing was unloaded


def test_the_index_lists_every_folder_with_its_state(client, models):
    write_models(models, {"newcomer": RELU % "3.0", "broken": "layers: [{name: a, type: Nope}]"})
    assert states(client) == {
        "broken": ("UNAVAILABLE", "not loaded"),
        "fold": ("READY", None),
        "newcomer": ("UNAVAILABLE", "not loaded"),
        "scaled": ("READY", None),
    }
    assert set(states(client, ready=True)) == {"fold", "scaled"}
    assert client.post("/v2/repository/index", headers=ADMIN).status_code == 200  # no body at all


def test_load_rereads_the_folder_and_serves_the_new_weights(client, models):
    (models / "scaled" / "model.yaml").write_text("version: 2\n" + RELU % "5.0")
    response = client.post("/v2/repository/models/scaled/load", headers=ADMIN)
    assert response.get_json() == {"name": "scaled", "version": "2", "state": "READY", "reason": None}
    assert output(scaled(client), "scale")["data"] == [5.0, 1.0]
    assert client.get("/v2/models/scaled").get_json()["versions"] == ["2"]


def test_a_load_that_fails_keeps_the_old_version_serving(client, models):
    (models / "scaled" / "model.yaml").write_text(RELU.replace("in_features: 2", "in_features: 3") % "5.0")
    response = client.post("/v2/repository/models/scaled/load", headers=ADMIN)
    assert response.status_code == 400
    assert "layer 'scale'" in error_of(response) and "expects 3 features" in error_of(response)
    assert output(scaled(client), "scale")["data"] == [2.0, 1.0]
    assert states(client)["scaled"] == ("READY", None)


def test_a_new_folder_is_served_once_loaded(client, models):
    write_models(models, {"newcomer": RELU % "3.0"})
    assert client.post("/v2/models/newcomer/infer", json=infer_body("x", [[1.0, 1.0]])).status_code == 404
    assert client.post("/v2/repository/models/newcomer/load", headers=ADMIN).status_code == 200
    response = client.post("/v2/models/newcomer/infer", json=infer_body("x", [[1.0, 1.0]]))
    assert output(response, "scale")["data"] == [3.0, 1.0]


def test_unload_stops_serving_until_loaded_again(client):
    response = client.post("/v2/repository/models/scaled/unload", headers=ADMIN)
    assert response.get_json() == {"name": "scaled", "version": None, "state": "UNAVAILABLE", "reason": "unloaded"}
    refused = scaled(client)
    assert refused.status_code == 400
    assert "'scaled' is unavailable: unloaded" in error_of(refused)
    assert client.get("/v2/models/scaled/ready").status_code == 400
    assert client.get("/v2/health/ready").status_code == 200  # an unloaded model does not hold readiness
    assert client.post("/v2/repository/models/scaled/load", headers=ADMIN).status_code == 200
    assert output(scaled(client), "scale")["data"] == [2.0, 1.0]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("nowhere", "known models: fold, scaled"),
        ("..", "known models: fold, scaled"),
        ("%2E%2E", "known models: fold, scaled"),
        (".hidden", "known models: fold, scaled"),
        ("fold%2F..%2F..", "no such endpoint"),
    ],
)
def test_only_folders_directly_in_the_models_directory_load(client, models, name, fragment):
    (models / ".hidden").mkdir()
    response = client.post(f"/v2/repository/models/{name}/load", headers=ADMIN)
    assert response.status_code == 404
    message = error_of(response)
    assert fragment in message
    assert str(models) not in message


def test_inference_may_require_its_own_token(models):
    client = app_over(models, INFER_TOKEN="infer-token", ADMIN_TOKEN=TOKEN).test_client()
    body = infer_body("x", [[1.0, 0.0]])
    for path, payload in (
        ("/v2/models/fold/infer", body),
        ("/v2/models/fold/trace", body),
        ("/v1/models/fold:predict", {"instances": [[1.0, 0.0]]}),
    ):
        refused = client.post(path, json=payload)
        assert refused.status_code == 401, path
        assert "inference needs a bearer token" in error_of(refused)
        assert client.post(path, json=payload, headers=ADMIN).status_code == 401  # the admin token is another
        assert client.post(path, json=payload, headers={"Authorization": "Bearer infer-token"}).status_code == 200
    # metadata and health stay open for probes and clients discovering the API
    assert client.get("/v2/models/fold").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200


@pytest.mark.parametrize(
    ("ready", "fragment"),
    [
        (0, "Not a valid boolean"),
        (1, "Not a valid boolean"),
        ("true", "Not a valid boolean"),
        (None, "Field may not be null"),
    ],
)
def test_the_index_filter_must_be_a_boolean(client, ready, fragment):
    response = client.post("/v2/repository/index", json={"ready": ready}, headers=ADMIN)
    assert response.status_code == 400
    assert f"ready: {fragment}" in error_of(response)


@pytest.mark.parametrize("path", ["/v2/models/fold/trace", "/v1/models/fold:predict"])
def test_the_inference_token_is_checked_before_the_body_is_read(models, path):
    client = app_over(models, INFER_TOKEN="infer-token").test_client()
    response = client.post(path, data=b"{not json", content_type="application/json")
    assert response.status_code == 401
    assert "inference needs a bearer token" in error_of(response)
