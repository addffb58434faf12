# syntax=docker/dockerfile:1.7
# The platform image ghcr.io/krstock/krstock: the HTTP services (`krstock serve ...`), the Celery
# workers (`krstock worker ...`), migrations (`krstock db upgrade`) and the operator's enqueue pods
# (`python -m krstock_operator.enqueue`, standard library only). Build from the repository root:
#   docker build -t ghcr.io/krstock/krstock:0.1.0 .
# The operator has its own small image (operator/Dockerfile).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---- build: wheels of krstock and every dependency (no compilers reach the runtime image)
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services/ services/
COPY operator/krstock_operator/ operator/krstock_operator/
# krx: the KRX/Yahoo market data sources; ai: Gemini analysis. The operator's Kopf extra is not
# installed: the enqueue module it runs here needs only the standard library.
RUN pip wheel --wheel-dir /wheels ".[krx,ai]"

# ---- runtime: a virtual environment installed from those wheels, owned by root, run as 10001
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="krstock" \
      org.opencontainers.image.description="Korean stock signal platform: services, workers, migrations" \
      org.opencontainers.image.source="https://github.com/krstock/krstock" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/krstock/bin:$PATH \
    HOME=/tmp \
    KRSTOCK_LOG_FORMAT=json
# The wheels are bind-mounted, never copied: no layer keeps them.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/krstock \
 && /opt/krstock/bin/pip install --no-index --find-links=/wheels "krstock[krx,ai]" \
 && /opt/krstock/bin/python -m compileall -q /opt/krstock/lib \
 && groupadd --gid 10001 krstock \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin krstock \
 && krstock --version \
 && python -c "import krstock_operator.enqueue"
# Read-only root filesystem friendly: nothing is written outside /tmp (an emptyDir in the chart):
# bytecode is precompiled above, worker probe files and Prometheus' multiprocess folder live in /tmp.
WORKDIR /tmp
USER 10001:10001
# 8000: every HTTP service (`krstock serve <service> --port 8000`), 9808: a worker's /metrics.
EXPOSE 8000 9808
ENTRYPOINT ["krstock"]
CMD ["--help"]
