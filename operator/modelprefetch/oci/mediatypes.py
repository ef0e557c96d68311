"""Media types and annotation keys we read or write, in one place."""

from __future__ import annotations

from typing import Final

# Manifests and indexes.
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
# Sent as Accept on manifest requests: everything we can parse, no schema 1.
MANIFEST_ACCEPT: Final = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))

# Image configs and layers.
OCI_IMAGE_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
DOCKER_IMAGE_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
IMAGE_CONFIG_TYPES: Final = frozenset({OCI_IMAGE_CONFIG, DOCKER_IMAGE_CONFIG})
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"
OCI_LAYER_TAR: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR: Final = "application/vnd.docker.image.rootfs.diff.tar"

# CNCF ModelPack (model-spec). Legacy (<= v0.0.6) uses vnd.cnai / org.cnai.
MODELPACK_ARTIFACT: Final = "application/vnd.cncf.model.manifest.v1+json"
MODELPACK_CONFIG: Final = "application/vnd.cncf.model.config.v1+json"
LEGACY_MODELPACK_ARTIFACT: Final = "application/vnd.cnai.model.manifest.v1+json"
LEGACY_MODELPACK_CONFIG: Final = "application/vnd.cnai.model.config.v1+json"
MODELPACK_CONFIG_TYPES: Final = frozenset({MODELPACK_CONFIG, LEGACY_MODELPACK_CONFIG})
MODELPACK_ARTIFACT_TYPES: Final = frozenset({MODELPACK_ARTIFACT, LEGACY_MODELPACK_ARTIFACT})
MODELPACK_LAYER_PREFIXES: Final = ("application/vnd.cncf.model.", "application/vnd.cnai.model.")

# Docker model artifacts (Docker Model Runner).
DOCKER_AI_PREFIX: Final = "application/vnd.docker.ai."
DOCKER_AI_CONFIG: Final = "application/vnd.docker.ai.model.config.v0.1+json"

# Ollama's registry format: a Docker v2 manifest whose layers are raw blobs without names.
OLLAMA_LAYER_PREFIX: Final = "application/vnd.ollama.image."
# KitOps ModelKits (`kit pack` without --use-model-pack).
KITOPS_PREFIX: Final = "application/vnd.kitops.modelkit."

# Layer annotations.
ANNOTATION_FILEPATH: Final = "org.cncf.model.filepath"
ANNOTATION_FILE_METADATA: Final = "org.cncf.model.file.metadata+json"
LEGACY_ANNOTATION_FILEPATH: Final = "org.cnai.model.filepath"
LEGACY_ANNOTATION_FILE_METADATA: Final = "org.cnai.model.file.metadata+json"
ANNOTATION_TITLE: Final = "org.opencontainers.image.title"
# Where a layer's file path may be written, most specific first.
FILEPATH_ANNOTATIONS: Final = (ANNOTATION_FILEPATH, LEGACY_ANNOTATION_FILEPATH, ANNOTATION_TITLE)
# What CRI-O 1.33 and modctl <= v0.0.6 read a raw layer's file name from.
LEGACY_FILEPATH_ANNOTATIONS: Final = (LEGACY_ANNOTATION_FILEPATH, ANNOTATION_TITLE)
FILE_METADATA_ANNOTATIONS: Final = (ANNOTATION_FILE_METADATA, LEGACY_ANNOTATION_FILE_METADATA)

# Marks the OCI image we derive from a ModelPack; its value is the ModelPack digest.
ANNOTATION_DERIVED_FROM: Final = "io.modelprefetch.derived-from"
