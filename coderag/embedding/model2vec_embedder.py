"""The builtin ``model2vec`` embedder: static token embeddings, mean pooled.

The default model ships inside the package (``coderag/models/default``), so
coderag embeds with no network access.  Any model2vec folder, or a hub id when
the hub is reachable, can be configured with ``git config coderag.embedder.model``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from coderag.embedding.static_encoder import StaticEncoder
from coderag.errors import ConfigError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "default"
_HASHED_FILES = ("model.safetensors", "tokenizer.json", "config.json")


def default_model_path() -> Path:
    """Folder of the model bundled with coderag."""
    return DEFAULT_MODEL_DIR


def model_fingerprint(folder: Path) -> str:
    """Short content hash of a model folder's weights, tokenizer and config."""
    digest = hashlib.sha256()
    for name in _HASHED_FILES:
        file = folder / name
        if file.exists():
            digest.update(name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


class Model2VecEmbedder:
    """Embeds texts with a model2vec :class:`~model2vec.StaticModel`.

    :param model: a model2vec folder or a hub id; the bundled model when empty.
    :param max_length: token cap per document (``0`` for none: long chunks
        keep their tail, which static models can afford).
    """

    embeds_path = True
    """Chunk vectors get their file path's vector mixed in (the bundled model was trained on
    path-prefixed code); see :meth:`coderag.indexing.file_pipeline.BatchWorker._with_paths`."""

    def __init__(self, model: str | os.PathLike[str] = "", max_length: int = 0, **_ignored) -> None:
        self.model_path = str(model) if model else str(DEFAULT_MODEL_DIR)
        self.max_length = int(max_length) or None
        self._model = None
        folder = Path(self.model_path).expanduser()
        if folder.is_dir():
            if not (folder / "tokenizer.json").exists():
                raise ConfigError(f"model folder {folder} has no tokenizer.json: not a model2vec model")
            self._folder: Path | None = folder
            self._model_id = ""  # hashing the weights costs ~20 ms that a search never needs: see model_id
        else:
            if os.sep in self.model_path or self.model_path.startswith("."):
                raise ConfigError(f"model folder not found: {self.model_path}")
            self._folder = None
            self._model_id = f"model2vec:{self.model_path}"
        self.dim = self._load().dim

    @property
    def model_id(self) -> str:
        """``model2vec:<name>@<hash of the weights, tokenizer and config>`` (computed on first use)."""
        if not self._model_id and self._folder is not None:
            folder = self._folder
            name = "default" if folder.resolve() == DEFAULT_MODEL_DIR else folder.name
            self._model_id = f"model2vec:{name}@{model_fingerprint(folder)}"
        return self._model_id

    def _load(self):
        if self._model is None and self._folder is not None:
            self._model = _load_folder(self._folder)
        if self._model is None:
            from model2vec import StaticModel

            source = str(self._folder) if self._folder else self.model_path
            try:
                self._model = StaticModel.from_pretrained(source)
            except Exception as exc:  # hub errors come in many types
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ConfigError(f"cannot load model2vec model {source!r}: {first_line}") from None
        return self._model

    def __getstate__(self) -> dict:
        # Workers reload the weights themselves instead of unpickling 8+ MB per task.
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        if isinstance(model, StaticEncoder):
            vectors = model.encode(list(texts), max_length=self.max_length)
        else:
            vectors = model.encode(list(texts), max_length=self.max_length, use_multiprocessing=False,
                                   normalize=False)
        return _normalise(np.asarray(vectors, dtype=np.float32))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def _load_folder(folder: Path):
    """A :class:`StaticEncoder` for a plain model2vec folder, or ``None`` (the caller then uses ``from_pretrained``).

    ``StaticModel.from_pretrained`` imports the Hugging Face hub client to
    read a model card, ~0.2 s of every ``git coderag index`` that a commit
    hook pays for nothing, and building a ``StaticModel`` costs ~0.12 s more.
    """
    try:
        return StaticEncoder.from_folder(folder)
    except Exception:  # an unexpected file or library version: the library's own loader decides
        return None


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms
