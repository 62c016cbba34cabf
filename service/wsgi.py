"""The WSGI entry point gunicorn loads: models are read here, warmed up in each worker."""

from .app import create_app

app = create_app({"DEFER_WARM_UP": True})
