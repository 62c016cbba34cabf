# layerserve: serves the model folders in /models over the Open Inference Protocol on port 8000.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 layerserve \
    && useradd --system --no-log-init --uid 10001 --gid layerserve --create-home --shell /usr/sbin/nologin layerserve

WORKDIR /app

# torch alone in its own layer: the largest download, rebuilt only when its pin changes.
# The CPU index keeps the multi-GB CUDA build out of the image.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md constraints.txt ./
COPY service/ service/
COPY client/ client/
RUN pip install --no-cache-dir -c constraints.txt .

COPY models/ /models/

USER 10001:10001

ENV LAYERSERVE_MODELS=/models \
    LAYERSERVE_HOST=0.0.0.0 \
    LAYERSERVE_PORT=8000
EXPOSE 8000

# slim has no curl; urlopen raises (exit 1) on a refused connection or a 503.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=2)"]

CMD ["layerserve", "serve"]
