"""The pair of stores behind one index, opened from the configured backends."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from coderag.config import Settings
from coderag.plugins import create_backend
from coderag.protocols import LexicalDoc


class IndexStores:
    """A vector store and a lexical store kept in step (same labels)."""

    def __init__(self, vectors, lexical) -> None:
        self.vectors = vectors
        self.lexical = lexical

    @classmethod
    def open(cls, data_dir: Path, settings: Settings, dim: int, readonly: bool) -> "IndexStores":
        vector_opts = dict(settings.options["vector_store"])
        lexical_opts = dict(settings.options["lexical_store"])
        vectors = create_backend("vector_store", settings.backends["vector_store"], data_dir / "vectors",
                                 dim=dim, readonly=readonly, **vector_opts)
        try:
            lexical = create_backend("lexical_store", settings.backends["lexical_store"], data_dir / "lexical",
                                     readonly=readonly, **lexical_opts)
        except BaseException:
            vectors.close()
            raise
        return cls(vectors, lexical)

    def add(self, labels: np.ndarray, vectors: np.ndarray, lexical: Sequence[tuple[str, str, str]]) -> None:
        self.vectors.add(labels, vectors)
        self.lexical.add([LexicalDoc(int(label), *fields) for label, fields in zip(labels, lexical)])

    def delete(self, labels: Sequence[int]) -> None:
        if len(labels):
            self.vectors.delete(labels)
            self.lexical.delete(labels)

    def commit(self) -> None:
        self.vectors.commit()
        self.lexical.commit()

    def close(self) -> None:
        for store in (self.vectors, self.lexical):
            try:
                store.close()
            except Exception:
                pass
