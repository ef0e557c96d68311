"""Artifacts a hostile registry could serve that parse but must not be pulled: absolute,
duplicate or non-regular layer file names, absurd layer counts, and trickling replies."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest

from modelprefetch.errors import ModelFormatError, RegistryUnavailableError
from modelprefetch.oci import manifest as manifest_module
from modelprefetch.oci import replies
from modelprefetch.oci.manifest import model_files, parse_manifest

WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
FILEPATH = "org.cncf.model.filepath"
METADATA = "org.cncf.model.file.metadata+json"


def _layer(i: int, path: str, typeflag: object = None) -> dict[str, Any]:
    annotations = {FILEPATH: path}
    if typeflag is not None:
        annotations[METADATA] = json.dumps({"size": 1, "typeflag": typeflag})
    return {
        "mediaType": WEIGHT,
        "digest": "sha256:" + f"{i:064x}",
        "size": 1,
        "annotations": annotations,
    }


def _manifest(*layers: dict[str, Any]) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.cncf.model.config.v1+json",
            "digest": "sha256:" + "c" * 64,
            "size": 100,
        },
        "layers": list(layers),
    }


def _files(document: dict[str, Any]) -> object:
    parsed = parse_manifest(copy.deepcopy(document))
    return model_files(parsed.layers, parsed.descriptors)


def test_absolute_layer_path_is_refused_naming_the_layer() -> None:
    with pytest.raises(ModelFormatError, match=r"layers\[1\].*'/etc/passwd' is absolute"):
        _files(_manifest(_layer(0, "model.safetensors"), _layer(1, "/etc/passwd")))


def test_duplicate_layer_paths_are_refused_naming_both_layers() -> None:
    document = _manifest(_layer(0, "a/model.bin"), _layer(1, "x"), _layer(2, "a//model.bin"))
    with pytest.raises(ModelFormatError, match=r"layers\[2\].*'a/model.bin'.*layers\[0\]"):
        _files(document)


@pytest.mark.parametrize(("typeflag", "kind"), [("2", "symlink"), (49, "hard link"), ("3", "")])
def test_links_and_devices_are_refused(typeflag: object, kind: str) -> None:
    with pytest.raises(ModelFormatError, match=rf"layers\[0\].*typeflag.*{kind}"):
        _files(_manifest(_layer(0, "link", typeflag)))


@pytest.mark.parametrize("typeflag", [0, "0", 48, "", "5", 53])
def test_regular_files_and_directories_still_parse(typeflag: object) -> None:
    files = _files(_manifest(_layer(0, "model.bin", typeflag), _layer(1, "other")))
    assert isinstance(files, tuple)


def test_too_many_layers_are_refused_before_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest_module, "MAX_LAYERS", 10)
    layers = [_layer(i, f"f{i}") for i in range(11)]
    with pytest.raises(ModelFormatError, match="11 layers, more than the 10"):
        _files(_manifest(*layers))
    assert len(_files(_manifest(*layers[:10]))) == 10  # type: ignore[arg-type]


def test_file_list_too_long_for_a_pod_annotation_is_refused() -> None:
    long_name = "d/" * 1000 + "f"
    layers = [_layer(i, f"{long_name}{i}") for i in range(100)]
    with pytest.raises(ModelFormatError, match="file list"):
        _files(_manifest(*layers))


class _Trickle:
    """A body that gives one byte per `pause` seconds, forever."""

    content_length = None

    def __init__(self, pause: float) -> None:
        self.pause = pause
        outer = self

        class Content:
            async def read(self, n: int = -1) -> bytes:
                await asyncio.sleep(outer.pause)
                return b" "

        self.content = Content()


async def test_trickling_body_gives_up_after_the_deadline() -> None:
    started = asyncio.get_running_loop().time()
    with pytest.raises(RegistryUnavailableError, match=r"manifest x: not received within 0.5s"):
        await replies.read_capped(_Trickle(0.05), 1_000_000, "manifest x", seconds=0.5)  # type: ignore[arg-type]
    assert asyncio.get_running_loop().time() - started < 2


def test_the_default_deadline_is_bounded() -> None:
    assert 0 < replies.SMALL_BODY_SECONDS <= 60
