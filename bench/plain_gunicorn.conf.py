"""gunicorn settings for the plain reference app: 2 sync workers, one torch thread each, no preload."""

wsgi_app = "bench.plain_app:create_app()"
workers = 2
worker_class = "sync"
loglevel = "warning"
accesslog = None
errorlog = "-"
control_socket_disable = True


def post_fork(server, worker):
    import torch

    torch.set_num_threads(1)
