"""Write a trained token table as a model2vec folder, with its model card and content hash.

Only numpy, ``tokenizers`` and ``model2vec`` (runtime dependencies of coderag) are used here.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

#: The files that make up the model; :func:`model_hash` covers exactly these.
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def quantize_int8(vectors: np.ndarray) -> np.ndarray:
    """Quantise a float table to int8 with one global scale (model2vec's int8 format).

    The scale is lost, which is harmless because every encoding is normalised.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    scale = float(np.max(np.abs(vectors))) / 127.0 or 1.0
    return np.clip(np.rint(vectors / scale), -127, 127).astype(np.int8)


def write_model(folder: str | Path, vectors: np.ndarray, tokenizer, config: dict, card: str,
                dtype: str = "int8") -> str:
    """Write ``config.json``, ``model.safetensors``, ``tokenizer.json`` and ``README.md``.

    :param folder: target folder (created; existing model files are overwritten).
    :param vectors: float token table, one row per tokenizer id.
    :param tokenizer: a ``tokenizers.Tokenizer`` matching ``vectors``.
    :param config: model2vec config (``normalize``, ``hidden_dim``...), written as given plus dtype.
    :param card: model card text; ``{hash}`` in it is replaced by the model hash.
    :param dtype: ``int8``, ``float16`` or ``float32``.
    :returns: the model hash (see :func:`model_hash`).
    """
    from model2vec.persistence import save_pretrained

    folder = Path(folder)
    if dtype == "int8":
        table = quantize_int8(vectors)
    else:
        table = np.asarray(vectors, dtype=np.dtype(dtype))
    if len(table) != tokenizer.get_vocab_size():
        raise ValueError(f"table has {len(table)} rows but the tokenizer {tokenizer.get_vocab_size()} tokens")
    config = dict(config, hidden_dim=int(table.shape[1]))
    save_pretrained(folder, table, tokenizer, config, create_model_card=False)
    # model2vec also writes a sentence-transformers modules.json pointing at a folder it never
    # creates; it is not needed to load the model, so keep the shipped folder minimal.
    (folder / "modules.json").unlink(missing_ok=True)
    digest = model_hash(folder)
    (folder / "README.md").write_text(card.replace("{hash}", digest), encoding="utf-8")
    return digest


def model_hash(folder: str | Path) -> str:
    """sha256 over the model files (name and bytes, in a fixed order), as ``sha256:<hex>``."""
    h = hashlib.sha256()
    for name in MODEL_FILES:
        data = (Path(folder) / name).read_bytes()
        h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return "sha256:" + h.hexdigest()


def folder_size(folder: str | Path) -> int:
    """Bytes of the model files (what the wheel carries, without the card)."""
    return sum((Path(folder) / name).stat().st_size for name in MODEL_FILES)


def read_config(folder: str | Path) -> dict:
    """The model2vec ``config.json`` of a folder."""
    return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
