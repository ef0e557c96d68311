"""What a model directory is, guessed from its files (flags given to `pack` win).

- format from extensions (safetensors, gguf, onnx, pt);
- architecture, family and precision from a Hugging Face `config.json`
  (`architectures[0]`, `model_type`, `torch_dtype`/`dtype`);
- parameter count from safetensors headers (8-byte length + JSON of tensor shapes),
  read without loading any weights, printed like "8b" or "494m".
Each layer's kind comes from the file name (weight, weight.config, doc, code, dataset).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

WEIGHT_EXTENSIONS = {
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".onnx": "onnx",
    ".pt": "pt",
    ".pth": "pt",
    ".bin": "pt",
    ".ckpt": "pt",
    ".h5": "h5",
    ".msgpack": "flax",
    ".tflite": "tflite",
    ".dduf": "dduf",
}
# Preferred when a directory holds several (HF repos often ship .bin next to safetensors).
FORMAT_PREFERENCE = ("safetensors", "gguf", "onnx", "pt", "h5", "flax", "tflite", "dduf")
CONFIG_EXTENSIONS = {".json", ".yaml", ".yml", ".model", ".tiktoken", ".vocab", ".txt"}
CONFIG_NAMES = {"merges.txt", "vocab.txt", "tokenizer.model", "vocab.json"}
DOC_EXTENSIONS = {".md", ".rst", ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".svg"}
DOC_PREFIXES = ("readme", "license", "licence", "notice", "copying", "use_policy")
CODE_EXTENSIONS = {".py", ".sh", ".ipynb", ".js", ".ts", ".cpp", ".c", ".cu", ".h", ".go", ".rs"}
DATASET_EXTENSIONS = {".parquet", ".arrow", ".jsonl", ".csv", ".tsv"}
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024  # the format's own limit
_DTYPE_NAMES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "float64": "fp64"}


def layer_kind(relative_path: str) -> str:
    """ModelPack layer kind of a file: weight, weight.config, doc, code or dataset."""
    name = PurePosixPath(relative_path).name.lower()
    suffix = PurePosixPath(name).suffix
    if suffix in WEIGHT_EXTENSIONS:
        return "weight"
    if name.startswith(DOC_PREFIXES) or suffix in DOC_EXTENSIONS:
        return "doc"
    if suffix in CODE_EXTENSIONS:
        return "code"
    if suffix in DATASET_EXTENSIONS:
        return "dataset"
    if name in CONFIG_NAMES or suffix in CONFIG_EXTENSIONS or name.startswith("tokenizer"):
        return "weight.config"
    return "doc"


@dataclass(frozen=True, slots=True)
class Detected:
    """Metadata guessed from a model directory; None where nothing was found."""

    format: str | None = None
    architecture: str | None = None
    family: str | None = None
    precision: str | None = None
    param_size: str | None = None


def detect(root: Path, relative_paths: list[str]) -> Detected:
    """Guess metadata from the files of a model directory (never raises on odd files)."""
    formats = {
        WEIGHT_EXTENSIONS[PurePosixPath(p).suffix.lower()]
        for p in relative_paths
        if PurePosixPath(p).suffix.lower() in WEIGHT_EXTENSIONS
    }
    model_format = next((f for f in FORMAT_PREFERENCE if f in formats), None)
    hf = _read_hf_config(root / "config.json") if "config.json" in relative_paths else {}
    architectures = hf.get("architectures")
    architecture = (
        architectures[0]
        if isinstance(architectures, list) and architectures and isinstance(architectures[0], str)
        else None
    )
    family = hf.get("model_type") if isinstance(hf.get("model_type"), str) else None
    dtype = hf.get("torch_dtype") or hf.get("dtype")
    precision = _DTYPE_NAMES.get(dtype, dtype) if isinstance(dtype, str) else None
    params = 0
    if model_format == "safetensors":
        for path in relative_paths:
            if path.lower().endswith(".safetensors"):
                params += safetensors_parameters(root / path)
    return Detected(
        format=model_format,
        architecture=architecture,
        family=family,
        precision=precision,
        param_size=human_param_size(params) if params else None,
    )


def safetensors_parameters(path: Path) -> int:
    """Number of parameters in a safetensors file, from its header only (0 if unreadable)."""
    try:
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) != 8:
                return 0
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_SAFETENSORS_HEADER:
                return 0
            header = json.loads(handle.read(length))
    except (OSError, ValueError, RecursionError):
        return 0
    if not isinstance(header, dict):
        return 0
    total = 0
    for name, tensor in header.items():
        if name == "__metadata__" or not isinstance(tensor, dict):
            continue
        shape = tensor.get("shape")
        if isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape):
            total += math.prod(shape)
    return total


def human_param_size(count: int) -> str:
    """8_030_261_248 -> "8b", 494_032_768 -> "494m", 1_100_048_384 -> "1.1b"."""
    for unit, scale in (("t", 10**12), ("b", 10**9), ("m", 10**6), ("k", 10**3)):
        if count >= scale:
            value = count / scale
            text = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{round(value)}"
            return f"{text}{unit}"
    return str(count)


def _read_hf_config(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_bytes()[: 16 * 1024 * 1024])
    except (OSError, ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}
