"""Train a static token table with a symmetric in-batch contrastive loss, in numpy.

The model is exactly what model2vec runs at encode time: the embedding of a text is the
mean of its tokens' rows, normalised. Training moves the rows so that a query's embedding
is closest to its own code among the codes of the batch (InfoNCE both ways, query->code and
code->query, temperature ``tau``). Only the table is learnt, so the gradient is small and
exact: a pooling matrix per batch turns the whole step into a few dense matrix products,
which is why no autograd framework (and no torch at test time) is needed.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coderag.train import SEED


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (defaults: the measured recipe)."""

    epochs: int = 3
    batch_size: int = 512
    lr: float = 5e-3
    temperature: float = 0.05
    max_tokens: int = 512
    seed: int = SEED
    #: Fill batches with pairs of one package at a time, so in-batch negatives are harder
    #: (same project vocabulary); off means a plain shuffle.
    group_batches: bool = False
    #: ``constant`` or ``linear`` (decay to zero over the run).
    schedule: str = "constant"
    #: Fraction of each text's tokens dropped at random in every step (a regulariser).
    token_dropout: float = 0.0


def tokenize(tokenizer, texts: Sequence[str], max_tokens: int = 512, unk_id: int | None = None) -> list[np.ndarray]:
    """Token ids the way model2vec encodes: no special tokens, truncated, unknown ids removed."""
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_tokens)
    out = []
    for enc in tokenizer.encode_batch_fast(list(texts), add_special_tokens=False):
        ids = np.asarray(enc.ids, dtype=np.int64)
        out.append(ids[ids != unk_id] if unk_id is not None else ids)
    tokenizer.no_truncation()
    return out


def encode(table: np.ndarray, ids_list: Sequence[np.ndarray]) -> np.ndarray:
    """Mean-pooled, normalised embeddings (zeros for empty texts)."""
    out = np.zeros((len(ids_list), table.shape[1]), dtype=np.float32)
    for i, ids in enumerate(ids_list):
        if len(ids):
            out[i] = table[ids].mean(axis=0)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def mrr_at_k(q_emb: np.ndarray, d_emb: np.ndarray, k: int = 10) -> float:
    """MRR@k of retrieving document i for query i among all documents (cosine)."""
    total = 0.0
    for start in range(0, len(q_emb), 1024):
        scores = q_emb[start:start + 1024] @ d_emb.T
        own = scores[np.arange(len(scores)), np.arange(start, start + len(scores))]
        rank = (scores > own[:, None]).sum(axis=1) + 1
        total += float(np.where(rank <= k, 1.0 / rank, 0.0).sum())
    return total / max(len(q_emb), 1)


def _pool_matrix(ids_list: Sequence[np.ndarray], inverse_offsets: np.ndarray, n_unique: int) -> np.ndarray:
    """Dense (batch x unique tokens) matrix whose row i averages text i's tokens."""
    lengths = np.array([len(ids) for ids in ids_list])
    rows = np.repeat(np.arange(len(ids_list)), lengths)
    weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths)
    flat = np.bincount(rows * n_unique + inverse_offsets, weights=weights, minlength=len(ids_list) * n_unique)
    return flat.reshape(len(ids_list), n_unique).astype(np.float32)


def contrastive_step(table: np.ndarray, q_ids: Sequence[np.ndarray], d_ids: Sequence[np.ndarray],
                     temperature: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss and gradient of the symmetric InfoNCE loss for one batch.

    :returns: ``(loss, unique token ids, gradient rows for those ids)``.
    """
    unique, inverse = np.unique(np.concatenate(list(q_ids) + list(d_ids)), return_inverse=True)
    n_q = sum(len(ids) for ids in q_ids)
    pq = _pool_matrix(q_ids, inverse[:n_q], len(unique))
    pd = _pool_matrix(d_ids, inverse[n_q:], len(unique))
    rows = table[unique]
    xq, xd = pq @ rows, pd @ rows
    nq = np.linalg.norm(xq, axis=1, keepdims=True) + 1e-12
    nd = np.linalg.norm(xd, axis=1, keepdims=True) + 1e-12
    zq, zd = xq / nq, xd / nd
    logits = (zq @ zd.T) / temperature
    b = len(logits)
    # Row softmax: query -> its code among the batch's codes; column softmax: the reverse.
    row = np.exp(logits - logits.max(axis=1, keepdims=True))
    row /= row.sum(axis=1, keepdims=True)
    col = np.exp(logits - logits.max(axis=0, keepdims=True))
    col /= col.sum(axis=0, keepdims=True)
    diag = np.arange(b)
    loss = -0.5 * (np.log(row[diag, diag] + 1e-30).mean() + np.log(col[diag, diag] + 1e-30).mean())
    eye = np.eye(b, dtype=np.float32)
    d_logits = (0.5 / b) * ((row - eye) + (col - eye)) / temperature
    d_zq, d_zd = d_logits @ zd, d_logits.T @ zq
    # Back through the normalisation: d x = (d z - z <z, d z>) / |x|.
    d_xq = (d_zq - zq * (zq * d_zq).sum(axis=1, keepdims=True)) / nq
    d_xd = (d_zd - zd * (zd * d_zd).sum(axis=1, keepdims=True)) / nd
    grad = pq.T @ d_xq + pd.T @ d_xd
    return float(loss), unique, grad.astype(np.float32)


def _batches(n: int, packages: Sequence[str] | None, cfg: TrainConfig, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    if cfg.group_batches and packages is not None:
        # Stable sort by a per-epoch random package rank keeps a package's pairs together.
        names = sorted(set(packages))
        rank = dict(zip(names, rng.permutation(len(names)), strict=True))
        order = order[np.argsort([rank[packages[i]] for i in order], kind="stable")]
        batches = [order[i:i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]
    return [order[i:i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]


def _drop_tokens(ids_list: Sequence[np.ndarray], rate: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Each text without a random ``rate`` of its tokens (never all of them)."""
    out = []
    for ids in ids_list:
        kept = ids[rng.random(len(ids)) >= rate]
        out.append(kept if len(kept) else ids[:1])
    return out


def train(table: np.ndarray, q_ids: Sequence[np.ndarray], d_ids: Sequence[np.ndarray], cfg: TrainConfig,
          packages: Sequence[str] | None = None,
          on_epoch: Callable[[int, np.ndarray, dict], None] | None = None) -> tuple[np.ndarray, list[dict]]:
    """Train a copy of ``table`` on aligned query/code token ids with Adam.

    :param table: float token table (vocabulary x dim); not modified.
    :param q_ids: token ids of each query; ``d_ids``: of its code (same order).
    :param packages: package of each pair (used by ``cfg.group_batches``).
    :param on_epoch: called after each epoch with ``(epoch, table, record)`` (e.g. validation).
    :returns: the trained float32 table and one record per epoch (loss, seconds).
    """
    keep = [i for i in range(len(q_ids)) if len(q_ids[i]) and len(d_ids[i])]
    q_ids = [q_ids[i] for i in keep]
    d_ids = [d_ids[i] for i in keep]
    packages = [packages[i] for i in keep] if packages is not None else None
    table = np.array(table, dtype=np.float32)
    m = np.zeros_like(table)
    v = np.zeros_like(table)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    rng = np.random.default_rng(cfg.seed)
    step, history = 0, []
    total_steps = cfg.epochs * -(-len(q_ids) // cfg.batch_size)
    for epoch in range(cfg.epochs):
        start, losses = time.perf_counter(), []
        for batch in _batches(len(q_ids), packages, cfg, rng):
            if len(batch) < 2:
                continue
            bq, bd = [q_ids[i] for i in batch], [d_ids[i] for i in batch]
            if cfg.token_dropout:
                bq, bd = _drop_tokens(bq, cfg.token_dropout, rng), _drop_tokens(bd, cfg.token_dropout, rng)
            loss, unique, grad = contrastive_step(table, bq, bd, cfg.temperature)
            losses.append(loss)
            step += 1
            # Dense Adam (rows absent from the batch keep moving on their momentum), as a
            # framework optimiser on an embedding table would do.
            m *= beta1
            m[unique] += (1 - beta1) * grad
            v *= beta2
            v[unique] += (1 - beta2) * grad * grad
            lr_t = cfg.lr * np.sqrt(1 - beta2**step) / (1 - beta1**step)
            if cfg.schedule == "linear":
                lr_t *= max(0.0, 1.0 - (step - 1) / total_steps)
            table -= lr_t * m / (np.sqrt(v) + eps)
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"),
                  "seconds": round(time.perf_counter() - start, 2)}
        if on_epoch is not None:
            on_epoch(epoch + 1, table, record)
        history.append(record)
    return table, history
