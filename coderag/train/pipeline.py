"""Glue between mined pairs and the trainer: token ids per pair, and a validated training run."""
from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from coderag.train.data import Pair
from coderag.train.data import doc_text
from coderag.train.trainer import TrainConfig
from coderag.train.trainer import encode
from coderag.train.trainer import mrr_at_k
from coderag.train.trainer import tokenize
from coderag.train.trainer import train


def load_table(folder: str | Path):
    """``(float32 table, tokenizer, unk id, config)`` of a model2vec folder (int8 is dequantised).

    Only the direction of an encoding matters (they are normalised), so int8's lost global
    scale is restored to a unit maximum, which keeps learning rates comparable.
    """
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(str(folder))
    table = np.asarray(model.embedding, dtype=np.float32)
    if model.embedding.dtype == np.int8:
        table = table / 127.0
    if model.weights is not None or model.token_mapping is not None:
        raise ValueError("folders with per-token weights or a token mapping are not supported")
    return table, model.tokenizer, model.unk_token_id, dict(model.config)


class PairTokens:
    """Token ids of queries and code for a list of pairs (tokenised once, reused by runs)."""

    def __init__(self, pairs: Sequence[Pair], tokenizer, unk_id: int | None, max_tokens: int = 512,
                 with_path: bool = False, docs: str = "code"):
        """:param docs: ``code`` (the definition), ``window`` (its index window) or ``mix``
        (alternating by a hash of the pair, so each definition is seen one way)."""
        self.pairs = list(pairs)
        self.q = tokenize(tokenizer, [p.query for p in self.pairs], max_tokens, unk_id)
        texts = [doc_text(p, with_path, window=_use_window(p, docs)) for p in self.pairs]
        self.d = tokenize(tokenizer, texts, max_tokens, unk_id)
        self.packages = [p.package for p in self.pairs]

    def subset(self, split: str) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
        """Token ids and packages of the pairs of one split."""
        idx = [i for i, p in enumerate(self.pairs) if p.split == split]
        return [self.q[i] for i in idx], [self.d[i] for i in idx], [self.packages[i] for i in idx]


def _use_window(pair: Pair, docs: str) -> bool:
    if docs == "mix":
        return zlib.crc32(f"{pair.path}:{pair.name}:{pair.query}".encode()) % 2 == 1
    return docs == "window"


def validate(table: np.ndarray, q_ids: Sequence[np.ndarray], d_ids: Sequence[np.ndarray]) -> float:
    """MRR@10 of each held-out query against all held-out code."""
    if not len(q_ids):
        return float("nan")
    return mrr_at_k(encode(table, q_ids), encode(table, d_ids))


def run(table: np.ndarray, tokens: PairTokens, cfg: TrainConfig, train_splits: tuple[str, ...] = ("train",),
        log=print) -> tuple[np.ndarray, dict]:
    """Train on the given splits, validating on ``val`` after every epoch.

    :returns: the trained table and a summary (per-epoch history, validation MRR before/after, time).
    """
    q, d, pk = [], [], []
    for split in train_splits:
        sq, sd, sp = tokens.subset(split)
        q, d, pk = q + sq, d + sd, pk + sp
    vq, vd, _ = tokens.subset("val")
    before = validate(table, vq, vd)
    log(f"pairs: train {len(q)}, val {len(vq)}; val MRR@10 before {before:.4f}")

    def on_epoch(epoch, current, record):
        record["val_mrr@10"] = round(validate(current, vq, vd), 4)
        log(f"epoch {epoch}: loss {record['loss']:.4f}  {record['seconds']:.1f}s  "
            f"val MRR@10 {record['val_mrr@10']:.4f}")

    start = time.perf_counter()
    trained, history = train(table, q, d, cfg, packages=pk, on_epoch=on_epoch)
    summary = {"pairs": len(q), "val_pairs": len(vq), "val_mrr@10_before": round(before, 4),
               "val_mrr@10_after": history[-1]["val_mrr@10"] if history else before,
               "seconds": round(time.perf_counter() - start, 1), "history": history}
    return trained, summary
