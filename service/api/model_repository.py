"""The repository extension of the Open Inference Protocol: list, load and unload model folders.

Admin endpoints: each needs the admin bearer token (see auth.py). A load re-reads the folder and
swaps the model in every worker; one that fails keeps the old version serving and says why.
"""

from flask import request

from . import repository
from .parsing import Blueprint
from .schemas import RepositoryIndexRequestSchema, RepositoryModelSchema
from .services import services

blp = Blueprint(
    "repository", __name__, url_prefix="/v2/repository", description="Model repository (needs the admin token)"
)


@blp.before_request
def require_admin_token():
    services().admin_token.check(request.headers.get("Authorization"))


def _described(entry) -> dict:
    return {"name": entry.name, "version": (entry.versions or [None])[0], "state": entry.state, "reason": entry.error}


@blp.route("/index", methods=["POST"])
@blp.arguments(RepositoryIndexRequestSchema, required=False)
@blp.response(200, RepositoryModelSchema(many=True))
@blp.doc(security=[{"bearer": []}])
def index(query):
    """Every model folder and every model known, with its state; {"ready": true} keeps the ready ones."""
    entries = repository().index()
    if query.get("ready"):
        entries = [entry for entry in entries if entry.ready]
    return [_described(entry) for entry in entries]


@blp.route("/models/<name>/load", methods=["POST"])
@blp.response(200, RepositoryModelSchema)
@blp.doc(security=[{"bearer": []}])
def load(name):
    """Re-read the model's folder and serve it in every worker; on failure the old version keeps serving."""
    services().sync.load(name)
    return _described(repository().entry(name))


@blp.route("/models/<name>/unload", methods=["POST"])
@blp.response(200, RepositoryModelSchema)
@blp.doc(security=[{"bearer": []}])
def unload(name):
    """Stop serving the model in every worker; requests already running finish."""
    services().sync.unload(name)
    return _described(repository().entry(name))
