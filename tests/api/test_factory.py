"""The application factory: configuration precedence, body limit, deferred warm-up, bad models directory."""

import json

import pytest

from service import config
from service.app import create_app

from .helpers import app_over, error_of, infer_body

MIB = 1024 * 1024
FOLD_X = infer_body("x", [[1.0, 0.0]])


@pytest.fixture
def fold_dir(model_folders):
    return model_folders(fold=None)


def test_defaults_apply_without_environment_or_test_config(fold_dir):
    app = app_over(fold_dir)
    assert app.config["MAX_BATCH_SIZE"] == 1024
    assert app.config["MAX_BODY_BYTES"] == 64 * MIB
    assert app.config["DEFER_WARM_UP"] is False
    assert app.config["PORT"] == 8000


def test_environment_overrides_defaults(fold_dir, monkeypatch):
    monkeypatch.setenv("LAYERSERVE_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("LAYERSERVE_MAX_BODY_BYTES", "4096")
    app = app_over(fold_dir)
    assert app.config["MAX_BATCH_SIZE"] == 7
    assert app.config["MAX_BODY_BYTES"] == 4096
    assert app.test_client().get("/v2/models/fold").get_json()["max_batch_size"] == 7


def test_environment_names_the_models_directory(fold_dir, monkeypatch):
    monkeypatch.setenv("LAYERSERVE_MODELS", str(fold_dir))
    app = create_app({"LOG_LEVEL": "warning"})
    assert app.config["MODELS_DIR"] == str(fold_dir)
    names = [m["name"] for m in app.test_client().get("/v2/models").get_json()["models"]]
    assert names == ["fold"]


def test_test_config_overrides_environment(fold_dir, monkeypatch):
    monkeypatch.setenv("LAYERSERVE_MAX_BATCH_SIZE", "7")
    app = app_over(fold_dir, MAX_BATCH_SIZE=5)
    assert app.config["MAX_BATCH_SIZE"] == 5
    response = app.test_client().post("/v2/models/fold/infer", json=infer_body("x", [[1.0, 2.0]] * 6))
    assert response.status_code == 400
    assert "batch size 6 is outside 1..5 for model 'fold'" in error_of(response)


def test_each_source_overrides_the_one_before(fold_dir, monkeypatch):
    monkeypatch.setenv("LAYERSERVE_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("LAYERSERVE_WORKERS", "3")
    app = app_over(fold_dir, MAX_BATCH_SIZE=5)
    defaults = config.defaults()
    assert (app.config["MAX_BATCH_SIZE"], app.config["WORKERS"], app.config["THREADS"]) == (5, 3, defaults["THREADS"])


@pytest.mark.parametrize(
    ("value", "problem"),
    [("lots", "LAYERSERVE_MAX_BATCH_SIZE='lots' is not a valid int"), ("0", "must be positive")],
)
def test_invalid_environment_value_is_refused_by_name(fold_dir, monkeypatch, value, problem):
    monkeypatch.setenv("LAYERSERVE_MAX_BATCH_SIZE", value)
    with pytest.raises(ValueError, match=problem):
        app_over(fold_dir)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("soon", "is not a valid float"), ("0", "must be positive"), ("nan", "finite"), ("inf", "finite")],
)
def test_invalid_infer_timeout_is_refused_by_name(fold_dir, monkeypatch, value, problem):
    monkeypatch.setenv("LAYERSERVE_INFER_TIMEOUT", value)
    with pytest.raises(ValueError, match=f"LAYERSERVE_INFER_TIMEOUT='{value}' .*{problem}"):
        app_over(fold_dir)


def test_infer_timeout_takes_fractions_of_a_second(fold_dir, monkeypatch):
    monkeypatch.setenv("LAYERSERVE_INFER_TIMEOUT", "0.25")
    assert app_over(fold_dir).config["INFER_TIMEOUT"] == 0.25


@pytest.mark.parametrize("source", ["test_config", "environment"])
def test_one_body_limit_for_the_fast_route_and_the_flask_views(fold_dir, monkeypatch, source):
    if source == "environment":
        monkeypatch.setenv("LAYERSERVE_MAX_BODY_BYTES", "300")
        app = app_over(fold_dir)
    else:
        app = app_over(fold_dir, MAX_BODY_BYTES=300)
    client = app.test_client()
    for path in ("/v2/models/fold/infer", "/v2/models/fold/trace"):
        assert client.post(path, data=body_of_size(300), content_type="application/json").status_code == 200
        too_large = client.post(path, data=body_of_size(301), content_type="application/json")
        assert too_large.status_code == 413, path
        assert "300 bytes" in too_large.get_json()["error"], too_large.get_json()


def body_of_size(size: int) -> bytes:
    """A valid fold request exactly `size` bytes long, padded through its echoed id."""
    empty = json.dumps({**FOLD_X, "id": ""}).encode()
    return json.dumps({**FOLD_X, "id": "p" * (size - len(empty))}).encode()


def test_body_limit_is_inclusive(fold_dir):
    client = app_over(fold_dir, MAX_BODY_BYTES=300).test_client()
    at_limit = client.post("/v2/models/fold/infer", data=body_of_size(300), content_type="application/json")
    assert at_limit.status_code == 200, at_limit.get_json()
    over = client.post("/v2/models/fold/infer", data=body_of_size(301), content_type="application/json")
    assert over.status_code == 413
    assert "larger than the limit of 300 bytes" in error_of(over)


def test_deferred_warm_up_holds_readiness_until_warm_up(fold_dir):
    app = app_over(fold_dir, DEFER_WARM_UP=True)
    client = app.test_client()

    (listing,) = client.get("/v2/models").get_json()["models"]
    assert (listing["state"], listing["ready"]) == ("LOADING", False)
    not_ready = client.get("/v2/health/ready")
    assert not_ready.status_code == 503
    assert "warming up" in error_of(not_ready)
    assert client.get("/v2/health/live").status_code == 200
    model_not_ready = client.get("/v2/models/fold/ready")
    assert model_not_ready.status_code == 503
    assert "'fold' is not ready: warming up" in error_of(model_not_ready)
    refused = client.post("/v2/models/fold/infer", json=FOLD_X)
    assert refused.status_code == 503
    assert "'fold' is not ready: warming up" in error_of(refused)

    app.extensions["layerserve"].repository.warm_up()

    (listing,) = client.get("/v2/models").get_json()["models"]
    assert (listing["state"], listing["ready"]) == ("READY", True)
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    assert client.get("/v2/models/fold/ready").status_code == 200
    served = client.post("/v2/models/fold/infer", json=FOLD_X)
    assert served.status_code == 200
    assert served.get_json()["outputs"][0]["data"] == [1.0, 0.0]


def test_without_deferral_models_are_warm_at_once(fold_dir):
    client = app_over(fold_dir).test_client()
    assert client.get("/v2/health/ready").status_code == 200


def test_missing_models_directory_raises(tmp_path):
    missing = tmp_path / "no-such-models"
    with pytest.raises(FileNotFoundError, match="no-such-models.*does not exist"):
        app_over(missing)


def test_hidden_and_underscore_folders_are_not_models(model_folders):
    models = model_folders(fold=None, _drafts="not: [a model", **{".cache": "neither"})
    client = app_over(models).test_client()
    assert [m["name"] for m in client.get("/v2/models").get_json()["models"]] == ["fold"]


def test_each_app_has_its_own_repository(fold_dir, app):
    mine = app_over(fold_dir)
    assert mine.extensions["layerserve"].repository is not app.extensions["layerserve"].repository
    assert [m["name"] for m in mine.test_client().get("/v2/models").get_json()["models"]] == ["fold"]


def test_a_model_may_lower_the_batch_limit_but_not_raise_it(tmp_path):
    from .helpers import app_over, write_models

    models = write_models(
        tmp_path,
        {
            "low": "max_batch_size: 2\ninputs: [{name: x, shape: [1]}]\nlayers: [{name: a, type: ReLU}]\n",
            "high": "max_batch_size: 500\ninputs: [{name: x, shape: [1]}]\nlayers: [{name: a, type: ReLU}]\n",
        },
    )
    client = app_over(models, MAX_BATCH_SIZE=100).test_client()
    assert client.get("/v2/models/low").get_json()["max_batch_size"] == 2
    assert client.get("/v2/models/high").get_json()["max_batch_size"] == 100
