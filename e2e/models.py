"""Test models: small model directories, packed and pushed with our own oci package."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.credentials import Credentials
from modelprefetch.oci.pack import PackOptions, pack_directory, push_packed
from modelprefetch.oci.reference import parse_reference


def make_model_dir(root: Path, *, seed: str = "m", weight_bytes: int = 64 * 1024) -> Path:
    """A Hugging Face-like snapshot: config.json, weights, tokenizer, a nested file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "torch_dtype": "bfloat16",
                "_seed": seed,
            }
        )
    )
    block = hashlib.sha256(seed.encode()).digest()
    (root / "model.safetensors").write_bytes((block * (weight_bytes // 32 + 1))[:weight_bytes])
    (root / "tokenizer.json").write_text(json.dumps({"seed": seed, "vocab": ["a", "b"]}))
    (root / "extra").mkdir(exist_ok=True)
    (root / "extra" / "generation_config.json").write_text('{"do_sample": false}')
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


async def _push(
    directory: Path, reference: str, raw: bool, credentials: dict[str, Credentials] | None
) -> str:
    ref = parse_reference(reference)
    packed = await pack_directory(
        directory, PackOptions(name=ref.repository.split("/")[-1], raw=raw)
    )
    client = RegistryClient(credentials=credentials, plain_http=True)
    async with client:
        await push_packed(client, ref, packed)
    return packed.digest


def push_model(
    directory: Path,
    reference: str,
    *,
    raw: bool = False,
    username: str | None = None,
    password: str | None = None,
) -> str:
    """Pack `directory` as a ModelPack and push it; returns the manifest digest."""
    creds = None
    if username:
        creds = {
            parse_reference(reference).registry: Credentials(
                username=username, password=password or ""
            )
        }
    return asyncio.run(_push(directory, reference, raw, creds))
