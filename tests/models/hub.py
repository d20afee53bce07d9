"""A Hugging Face cache built the way huggingface_hub builds one, for a small model made in the test: the
operator's cache that `models push` copies from, and the files the local hub server (hubserver.py) serves.
Large files are named by their sha256 (the hub's LFS etag), small ones by their git blob sha1."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

LFS_FROM = 1024          # files this big are LFS files on the hub (the real threshold is larger; any works)


def tiny_model(seed: int = 0, weights_mb: int = 8) -> dict[str, bytes]:
    """A tiny Llama-shaped repository: a config, a tokenizer, and random weights of `weights_mb` MB."""
    rng = random.Random(seed)
    config = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "vocab_size": 256, "seed": seed}
    return {"config.json": json.dumps(config, indent=1).encode(),
            "tokenizer_config.json": b'{"model_max_length": 2048}',
            "model.safetensors": rng.randbytes(weights_mb << 20)}


def etag(data: bytes) -> str:
    if len(data) >= LFS_FROM:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def commit_of(files: dict[str, bytes]) -> str:
    digest = hashlib.sha1()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + etag(files[name]).encode())
    return digest.hexdigest()


def write_cache(hub: Path, repo: str, files: dict[str, bytes], refs: tuple[str, ...] = ("main",)) -> str:
    """Put `files` into the hub cache `hub` as one snapshot; refs name its commit. Returns the commit."""
    folder = hub / ("models--" + repo.replace("/", "--"))
    commit = commit_of(files)
    for name, data in files.items():
        blob = folder / "blobs" / etag(data)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = folder / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / ref).write_text(commit)
    return commit
