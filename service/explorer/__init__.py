"""The model explorer: one HTML page and its static assets, served by the service itself.

The page is plain HTML, CSS and JavaScript modules, with no build step and nothing loaded from
elsewhere: it reads the same JSON API as any other client (models, layers, infer, trace).
GET / redirects to the page, /explorer/ serves it, /explorer/static/ holds its assets.
"""

from pathlib import Path

from flask import Blueprint, Flask, redirect, send_from_directory, url_for

HERE = Path(__file__).parent

# Everything comes from this server; the CSP makes the browser refuse anything else.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

blp = Blueprint("explorer", __name__, static_folder="static", static_url_path="/explorer/static")


@blp.get("/")
def root():
    """The server's front page is the explorer."""
    return redirect(url_for("explorer.page"))


@blp.get("/explorer/")
def page():
    """The explorer page; it routes between models with the URL's #fragment."""
    return send_from_directory(HERE, "index.html")


@blp.after_request
def _security_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def register_explorer(app: Flask) -> None:
    app.register_blueprint(blp)
