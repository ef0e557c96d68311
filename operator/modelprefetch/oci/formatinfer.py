"""The weights format of an artifact whose config does not say it, inferred from its files.

modctl leaves the ModelPack `config.format` empty, Ollama's config names only "gguf" in
a field of its own, and Docker Model Runner's `--format cncf` output may omit it; the
layers still tell: a file name's extension (`model-00001-of-00002.safetensors`,
`pytorch_model.bin`, `model.onnx`) or a producer's layer media type
(`application/vnd.docker.ai.gguf.v3`, `application/vnd.ollama.image.model`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from modelprefetch.oci.detect import FORMAT_PREFERENCE, WEIGHT_EXTENSIONS

# Weight layer media types that name their format (the rest say nothing about it).
_MEDIA_TYPE_FORMATS = (
    ("application/vnd.docker.ai.gguf.", "gguf"),
    ("application/vnd.docker.ai.safetensors", "safetensors"),
    ("application/vnd.docker.ai.dduf", "dduf"),
    ("application/vnd.ollama.image.model", "gguf"),
)
# Files named like weights that are not the model's weights (tokenizer or optimizer state).
_NOT_WEIGHTS = ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth")


def format_of_path(path: str) -> str | None:
    """The weights format a file name stands for, or None (config, docs, unknown)."""
    name = PurePosixPath(path).name.lower()
    if name in _NOT_WEIGHTS:
        return None
    return WEIGHT_EXTENSIONS.get(PurePosixPath(name).suffix)


def format_of_media_type(media_type: str) -> str | None:
    """The weights format a producer's layer media type names, or None."""
    for prefix, model_format in _MEDIA_TYPE_FORMATS:
        if media_type.startswith(prefix):
            return model_format
    return None


def infer_format(paths: Iterable[str | None], media_types: Iterable[str] = ()) -> str | None:
    """The model's weights format from its files' paths and layer media types.

    When several formats appear (Hugging Face repositories often ship `pytorch_model.bin`
    beside safetensors), the first of detect.FORMAT_PREFERENCE wins, so a directory
    packed by our `pack` and by another tool gets the same answer. None when no file
    looks like weights.
    """
    found = {f for p in paths if p is not None and (f := format_of_path(p)) is not None}
    found |= {f for m in media_types if (f := format_of_media_type(m)) is not None}
    return next((f for f in FORMAT_PREFERENCE if f in found), None)
