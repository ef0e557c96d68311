"""Property-based fuzzing: malformed references, manifests and configs only ever raise
our own error types (never a crash, never a hang)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.oci.fakeregistry import FakeRegistry, ThreadedFakeRegistry

from modelprefetch.errors import InvalidReferenceError, ModelFormatError, ModelPrefetchError
from modelprefetch.oci.artifact import ArtifactKind
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.manifest import model_files, parse_manifest
from modelprefetch.oci.modelconfig import parse_model_config
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.resolve import resolve
from modelprefetch.oci.transport import RetryPolicy

FIXTURES = Path(__file__).parent / "fixtures"
MANIFESTS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.manifest.json"))]
CONFIGS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.config.json"))]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
reference_text = st.text(
    alphabet=st.sampled_from("abcAZ09._-/:@[]" + "sha256" + "0123456789abcdef" + " \x00é"),
    max_size=120,
)


def _check_reference(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidReferenceError:
        return
    assert parse_reference(str(ref)) == ref  # normalised form is a fixed point


@FUZZ
@given(st.text(max_size=200))
def test_any_text_reference(text: str) -> None:
    """Any text parses to a Reference or raises InvalidReferenceError."""
    _check_reference(text)


@FUZZ
@given(reference_text)
def test_reference_like_text(text: str) -> None:
    """Text made of reference characters parses or raises InvalidReferenceError."""
    _check_reference(text)


def _parse_everything(manifest: Any, config: bytes) -> None:
    try:
        parsed = parse_manifest(manifest)
        model_files(parsed.layers, parsed.descriptors)
        parse_model_config(parsed.kind, parsed.config.media_type, config, len(parsed.layers))
    except ModelFormatError:
        pass


@FUZZ
@given(json_values)
def test_arbitrary_json_manifest(document: Any) -> None:
    """Any JSON value as a manifest raises ModelFormatError or parses."""
    _parse_everything(document, b"{}")


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _mutate(document: Any, path: tuple[Any, ...], replacement: Any) -> Any:
    if not path:
        return replacement
    mutated = copy.deepcopy(document)
    target = mutated
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    return mutated


@FUZZ
@given(st.data(), json_values)
def test_mutated_real_manifests(data: st.DataObject, replacement: Any) -> None:
    """Replacing any field of a real manifest with any JSON value never crashes."""
    manifest = data.draw(st.sampled_from(MANIFESTS))
    path = data.draw(st.sampled_from(_paths(manifest)))
    _parse_everything(_mutate(manifest, path, replacement), b"{}")


@FUZZ
@given(st.data(), json_values, st.sampled_from(list(ArtifactKind)))
def test_mutated_real_configs(data: st.DataObject, replacement: Any, kind: ArtifactKind) -> None:
    """Replacing any field of a real config with any JSON value never crashes."""
    config = data.draw(st.sampled_from(CONFIGS))
    path = data.draw(st.sampled_from(_paths(config)))
    blob = json.dumps(_mutate(config, path, replacement)).encode()
    with contextlib.suppress(ModelFormatError):
        parse_model_config(kind, "application/vnd.cncf.model.config.v1+json", blob, 2)


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(list(ArtifactKind)))
def test_arbitrary_config_bytes(blob: bytes, kind: ArtifactKind) -> None:
    """Any bytes as a config raise ModelFormatError or parse."""
    with contextlib.suppress(ModelFormatError):
        parse_model_config(kind, "application/vnd.cncf.model.config.v1+json", blob, 1)


file_metadata = st.dictionaries(
    st.sampled_from(["name", "mode", "size", "typeflag", "uid", "mtime"]), json_values, max_size=6
)
annotation_keys = st.sampled_from(
    [
        "org.cncf.model.filepath",
        "org.cnai.model.filepath",
        "org.opencontainers.image.title",
        "org.cncf.model.file.metadata+json",
        "org.cnai.model.file.metadata+json",
    ]
)


@FUZZ
@given(st.data(), annotation_keys, file_metadata | json_values, st.text(max_size=40))
def test_fuzzed_layer_annotations(data: st.DataObject, key: str, metadata: Any, path: str) -> None:
    """Any file metadata JSON or file path in a layer annotation never crashes."""
    manifest = copy.deepcopy(data.draw(st.sampled_from(MANIFESTS)))
    layer = manifest["layers"][0]
    value = json.dumps(metadata) if key.endswith("+json") else path
    layer["annotations"] = {**layer.get("annotations", {}), key: value}
    _parse_everything(manifest, b"{}")


def test_deeply_nested_config_is_a_format_error() -> None:
    """A config nested beyond the JSON parser's recursion limit is a ModelFormatError."""
    blob = b"[" * 200_000 + b"]" * 200_000
    try:
        parse_model_config(ArtifactKind.MODELPACK, "x", blob, 1)
    except ModelFormatError as exc:
        assert "nested" in exc.message
    else:
        raise AssertionError("nested config was accepted")


async def _resolve_once(host: str) -> None:
    async with RegistryClient(plain_http=True, retry=RetryPolicy(attempts=1)) as client:
        with contextlib.suppress(ModelPrefetchError):
            await resolve(client, f"{host}/fuzz/model:v1")


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data(), st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_resolve_of_hostile_registry_replies(data: st.DataObject, config: bytes) -> None:
    """resolve() of any manifest a registry serves (real ones mutated, with any config
    bytes) raises only ModelPrefetchError subclasses."""
    manifest = copy.deepcopy(data.draw(st.sampled_from(MANIFESTS)))
    path = data.draw(st.sampled_from(_paths(manifest)))
    manifest = _mutate(manifest, path, data.draw(json_values))
    fake = FakeRegistry()
    config_digest = fake.put_blob("fuzz/model", config)
    if isinstance(manifest, dict) and isinstance(manifest.get("config"), dict):
        manifest["config"]["digest"] = config_digest
        manifest["config"]["size"] = len(config)
    fake.put_manifest("fuzz/model", json.dumps(manifest).encode(), "v1")
    with ThreadedFakeRegistry(fake) as served:
        asyncio.run(_resolve_once(served.host))
