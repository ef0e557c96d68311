"""Writes a small Hugging Face-style model snapshot for the demo (no download: the bytes
are generated, so the demo runs offline). Usage: python hack/demo_model.py DIR"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def main(target: str) -> None:
    root = Path(target)
    (root / "tokenizer").mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "torch_dtype": "bfloat16",
                "hidden_size": 256,
                "num_hidden_layers": 2,
                "vocab_size": 512,
            },
            indent=2,
        )
    )
    (root / "generation_config.json").write_text('{"do_sample": false}\n')
    block = hashlib.sha256(b"modelprefetch demo").digest() * 1024
    for shard in (1, 2):
        with (root / f"model-0000{shard}-of-00002.safetensors").open("wb") as out:
            for _ in range(256):  # 8 MiB per shard
                out.write(block)
    (root / "tokenizer" / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {}}}))
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


if __name__ == "__main__":
    main(sys.argv[1])
