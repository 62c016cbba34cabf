# layerserve: serves the model folders in /models over the Open Inference Protocol on port 8000.
#
# `docker build -t layerserve .` builds on python:3.11-slim, with torch from PyTorch's CPU index
# and everything else from PyPI, at the versions of the lock (requirements.txt: the runtime part
# of constraints.txt). Build arguments change where things come from (docs/deployment.md):
#   BASE_IMAGE     any image with python3 (3.11+) and its venv module, a local Debian one say
#   TORCH_FROM     pip's options for torch; the default keeps the multi-GB CUDA build out
#   PACKAGES_FROM  pip's options for the rest; empty: PyPI
# With a directory of wheels given as the build context `wheels` (`--build-context
# wheels=DIR`), "--no-index --find-links /wheels" for both installs everything from it.
ARG BASE_IMAGE=python:3.11-slim

# Empty unless `--build-context wheels=DIR` replaces it with a directory of wheels.
FROM scratch AS wheels

FROM ${BASE_IMAGE} AS build
ARG TORCH_FROM="--index-url https://download.pytorch.org/whl/cpu"
ARG PACKAGES_FROM=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/layerserve
WORKDIR /src
# The runtime part of the lock only: a change to a development tool's pin rebuilds nothing here.
COPY requirements.txt ./

# Word splitting of the pip options is wanted. torch alone in its own layer: the largest
# download, rebuilt only when the runtime lock changes; then the other dependencies.
# hadolint ignore=SC2086
RUN --mount=type=bind,from=wheels,target=/wheels \
    /opt/layerserve/bin/pip install $TORCH_FROM -c requirements.txt torch==2.13.0
# hadolint ignore=SC2086,DL3059
RUN --mount=type=bind,from=wheels,target=/wheels \
    /opt/layerserve/bin/pip install $PACKAGES_FROM -r requirements.txt

FROM ${BASE_IMAGE}
ARG PACKAGES_FROM=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/layerserve/bin:$PATH

RUN groupadd --system --gid 10001 layerserve \
    && useradd --system --no-log-init --uid 10001 --gid layerserve --create-home --shell /usr/sbin/nologin layerserve

# The dependencies, unchanged unless the lock changes; then the models and the code, so a code
# change rebuilds only the layers from here on.
COPY --from=build /opt/layerserve /opt/layerserve
COPY models/ /models/
COPY pyproject.toml setup.py README.md /src/
COPY service/ /src/service/
COPY client/ /src/client/
# layerserve itself; its dependencies are pinned above.
# hadolint ignore=SC2086,DL3013
RUN --mount=type=bind,from=wheels,target=/wheels \
    pip install $PACKAGES_FROM --no-deps /src

USER 10001:10001
WORKDIR /home/layerserve

# HTTP on 8000, the Open Inference Protocol over gRPC on 8001, as Triton's image has them.
ENV LAYERSERVE_MODELS=/models \
    LAYERSERVE_HOST=0.0.0.0 \
    LAYERSERVE_PORT=8000 \
    LAYERSERVE_GRPC_PORT=8001
EXPOSE 8000 8001

# Neither base has curl; urlopen raises (exit 1) on a refused connection or a 503.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=2)"]

CMD ["layerserve", "serve"]
