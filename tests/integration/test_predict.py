"""`layerserve predict` against a real server: the digits held-out set, and clear failures."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ..digits_training import MIN_ACCURACY, load_training_script
from .conftest import BIN, free_port

pytestmark = pytest.mark.integration


def predict(*args) -> subprocess.CompletedProcess:
    """The installed command, as a user runs it."""
    return subprocess.run(
        [str(BIN / "layerserve"), "predict", *map(str, args)], capture_output=True, text=True, timeout=60
    )


def test_predict_classifies_the_held_out_digits_from_an_npy_file(live_server, tmp_path):
    _, _, images, labels = load_training_script().split()
    np.save(tmp_path / "held_out.npy", images)
    result = predict("digits", tmp_path / "held_out.npy", "--url", live_server)
    assert result.returncode == 0, result.stderr
    probs = np.array(json.loads(result.stdout)["probs"])
    assert probs.shape == (360, 10)
    assert (probs.argmax(axis=1) == labels).mean() >= MIN_ACCURACY


@pytest.mark.parametrize(
    ("content", "name"),
    [([[0.5, 1.0], [-1, 0]], "points.json"), ({"point": [[0.5, 1.0], [-1, 0]]}, "named.json")],
)
def test_predict_with_json_inputs(live_server, tmp_path, content, name):
    (tmp_path / name).write_text(json.dumps(content))
    result = predict("dense", tmp_path / name, "--url", live_server)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"activation1": [[1.2, 3.6, 0.65], [1.8, 2.2, 1.0]]}


def test_predict_with_an_npz_file_for_a_model_with_two_inputs(live_server, tmp_path):
    np.savez(tmp_path / "pair.npz", x1=np.eye(5, dtype=np.float32)[:2], x2=np.eye(4, dtype=np.float32)[1:3])
    result = predict("matcher", tmp_path / "pair.npz", "--url", live_server)
    assert result.returncode == 0, result.stderr
    assert np.array(json.loads(result.stdout)["bilinear"]).shape == (2, 3)


@pytest.mark.parametrize(
    ("model", "content", "message"),
    [
        ("dense", [[0.5, 1.0, 2.0]], "HTTP 400: input 'point': expected shape [-1, 2] (batch first), got [1, 3]"),
        ("nope", [[1.0]], "HTTP 404: unknown model 'nope'"),
        ("dense", {"pt": [[0.5, 1.0]]}, "HTTP 400: model 'dense' has no input 'pt'"),
    ],
)
def test_predict_shows_the_servers_error_and_fails(live_server, tmp_path, model, content, message):
    (tmp_path / "in.json").write_text(json.dumps(content))
    result = predict(model, tmp_path / "in.json", "--url", live_server)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {message}")


def test_predict_when_no_server_answers(tmp_path):
    (tmp_path / "in.json").write_text("[[0.5, 1.0]]")
    url = f"http://127.0.0.1:{free_port()}"
    result = predict("dense", tmp_path / "in.json", "--url", url)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: cannot reach {url}/v2/models/dense")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("in.json", "[[0.5,", "in.json: not valid JSON"),
        ("in.json", '"text"', "in.json: expected a nested list, or an object of input name to nested list"),
        ("in.csv", "1,2", "in.csv: expected a .json, .npy or .npz file"),
    ],
)
def test_predict_refuses_unreadable_files_before_calling(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    result = predict("dense", Path(tmp_path / name), "--url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert message in result.stderr
