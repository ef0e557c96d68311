"""Model formats of other tools that we recognise but cannot mount (docs/interop.md).

Refusing them by name gives the user a condition that says what the artifact is and
what to push instead, where the generic "unsupported media type" would not.
"""

from __future__ import annotations

from modelprefetch.errors import ModelFormatError
from modelprefetch.oci import mediatypes as mt


def refuse_foreign_model_formats(config_media_type: str, layer_types: list[str]) -> None:
    """Model formats of other tools that we recognise but cannot mount: say what to do."""
    if any(t.startswith(mt.OLLAMA_LAYER_PREFIX) for t in layer_types):
        raise ModelFormatError(
            "an Ollama model (layers application/vnd.ollama.image.*) is not supported: its"
            " layers are blobs without file names and its rootfs is not a file system; push"
            " the GGUF as a ModelPack (modelprefetch pack) or a Docker model instead"
        )
    if config_media_type.startswith(mt.KITOPS_PREFIX) or any(
        t.startswith(mt.KITOPS_PREFIX) for t in layer_types
    ):
        raise ModelFormatError(
            "a KitOps ModelKit (application/vnd.kitops.modelkit.*) is not supported: its"
            " layers are directory archives without file annotations; push the model as a"
            " CNCF ModelPack instead (modelprefetch pack, modctl)"
        )
