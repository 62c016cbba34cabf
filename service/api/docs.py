"""The OpenAPI document rendered at /docs: Swagger UI, its files served from the swagger-ui-bundle
package, so the page loads nothing from outside the server (no CDN, works offline)."""

from flask import Blueprint, send_from_directory
from swagger_ui_bundle import swagger_ui_path

PAGE = "docs"
ASSETS = "/docs/assets/"

blp = Blueprint("docs_assets", __name__)


@blp.route(ASSETS + "<path:filename>")
def asset(filename):
    return send_from_directory(swagger_ui_path, filename, max_age=3600)


@blp.route("/favicon.ico")
def favicon():
    """Browsers ask for it on every page; there is none, and saying so is not an error."""
    return "", 204


# flask-smorest renders the page; these settings point it at the files above.
SETTINGS = {
    "OPENAPI_SWAGGER_UI_PATH": PAGE,
    "OPENAPI_SWAGGER_UI_URL": ASSETS,
    # no validatorUrl: by default Swagger UI asks a public validator about the document
    "OPENAPI_SWAGGER_UI_CONFIG": {"deepLinking": True, "validatorUrl": None},
}
