"""A tiny Hugging Face style model directory for tests."""

from __future__ import annotations

import json
import struct
from pathlib import Path

WEIGHT_BYTES = 40_000


def safetensors(shape: list[int], payload: bytes) -> bytes:
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, len(payload)]}}
    ).encode()
    return struct.pack("<Q", len(header)) + header + payload


def make_model_dir(root: Path) -> Path:
    """config.json (llama), a 10000-parameter safetensors, a tokenizer, a README."""
    (root / "tokenizer").mkdir(parents=True)
    (root / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "torch_dtype": "bfloat16",
            }
        )
    )
    (root / "model.safetensors").write_bytes(safetensors([100, 100], bytes(range(250)) * 160))
    (root / "tokenizer" / "tokenizer.json").write_text('{"version": "1.0"}')
    (root / "README.md").write_text("# tiny test model\n")
    return root
