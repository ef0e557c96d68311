# syntax=docker/dockerfile:1
# One image for the operator (`modelprefetch run`) and the holder pods (`modelprefetch hold`).
# Runs as 65532 with a read-only root filesystem; only /tmp needs to be writable.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# Byte-compile here: the runtime root filesystem is read-only.
RUN pip install . \
 && python -m compileall -q /opt/venv \
 && modelprefetch --version

FROM python:${PYTHON_VERSION}-slim
LABEL org.opencontainers.image.title="modelprefetch" \
      org.opencontainers.image.description="Prefetches AI models (OCI, CNCF ModelPack) onto Kubernetes nodes and mounts them as image volumes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/modelprefetch/modelprefetch"
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080 8081 9443
ENTRYPOINT ["modelprefetch"]
CMD ["run"]
