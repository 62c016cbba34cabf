"""The gunicorn process model: the worker class, its settings file, hot reload across workers.
May import everything below it (runtime, sharing, config); nothing below imports it."""
