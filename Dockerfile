# syntax=docker/dockerfile:1
# One image for the operator (`modelprefetch run`) and the holder pods (`modelprefetch hold`).
# Runs as 65532 with a read-only root filesystem; only /tmp needs to be writable.
#
# `docker build .` uses the official python:3.11-slim. Where that cannot be pulled,
# `make image` (hack/image.sh) passes BASE_IMAGE=<a local Debian bookworm python3.11 base>;
# both put `python3` on PATH (/usr/local/bin in the official image, /usr/bin in Debian's).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS builder
# Only hack/image.sh sets this (to the host CA bundle it bind-mounts read-only for this
# stage's RUN); unset, pip uses its own default. Never persisted in an image.
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so a code change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
 && pip install -r requirements.txt
COPY README.md ./
COPY operator ./operator
# Byte-compile here: the runtime root filesystem is read-only.
RUN pip install --no-deps . \
 && pip check \
 && python -m compileall -q /opt/venv \
 && modelprefetch --version

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="modelprefetch" \
      org.opencontainers.image.description="Prefetches AI models (OCI, CNCF ModelPack) onto Kubernetes nodes and mounts them as image volumes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/modelprefetch/modelprefetch"
COPY --from=builder /opt/venv /opt/venv
# A passwd/group entry for 65532: Kubernetes passes only the uid when a pod sets none
# (or runAsUser without runAsGroup), and the runtime then takes the primary group from
# /etc/passwd; without the entry that is gid 0. (Appended: Debian's base has no useradd.)
RUN echo 'nonroot:x:65532:65532:nonroot:/tmp:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'nonroot:x:65532:' >> /etc/group
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080 8081 9443
ENTRYPOINT ["modelprefetch"]
CMD ["run"]
