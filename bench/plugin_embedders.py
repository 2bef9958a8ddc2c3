#!/usr/bin/env python3
"""Embedding speed: coderag's builtin ``model2vec`` against the ``minilm`` plugin.

Embeds the same chunks (an evenly spread sample of a repository's chunks,
as an index update would embed them) with each embedder in this process and
reports CPU seconds, so the number holds on a busy machine::

    python bench/plugin_embedders.py                   # 600 chunks of the public corpus
    python bench/plugin_embedders.py --sample 2000 --embedders minilm

Also reports the first-call cost (interpreter start, imports, weight
loading, one query; CPU seconds of a fresh process) that each
``git coderag search`` with a prose query pays.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def sample_texts(repo: Path, sample: int) -> list[str]:
    from coderag.backends.chunkers import make_code_chunker
    from coderag.analysis.documents import embedding_text
    from coderag.analysis.languages import detect_language
    from coderag.indexing.file_pipeline import decode_blob

    chunker = make_code_chunker()
    paths = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True,
                           check=True).stdout.decode().split("\0")
    texts = []
    for path in filter(None, paths):
        text, _ = decode_blob((repo / path).read_bytes(), 1_000_000)
        if text is not None:
            texts += [embedding_text(c) for c in chunker.chunk(path, text, detect_language(path, text[:200]))]
    step = max(1, len(texts) // sample)
    return texts[::step][:sample]


def first_call_seconds(name: str) -> float:
    """CPU time of a fresh process creating the embedder and embedding one query (imports included)."""
    code = ("import time; from coderag import plugins; "
            f"plugins.create_backend('embedder', {name!r}).embed_query('parse an http header'); "
            "print(time.process_time())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=str(ROOT.parent / "corpora" / "public" / "repo"))
    parser.add_argument("--sample", type=int, default=600)
    parser.add_argument("--embedders", default="model2vec,minilm")
    args = parser.parse_args()
    from coderag import plugins

    texts = sample_texts(Path(args.repo), args.sample)
    rows = []
    for name in args.embedders.split(","):
        embedder = plugins.create_backend("embedder", name)
        embedder.embed_documents(texts[:4])  # load the model outside the timing
        c0, t0 = time.process_time(), time.perf_counter()
        embedder.embed_documents(texts)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        rows.append({"embedder": name, "model_id": embedder.model_id, "dim": embedder.dim, "chunks": len(texts),
                     "cpu_s": round(cpu, 2), "chunks_per_cpu_s": round(len(texts) / cpu, 1),
                     "wall_s": round(wall, 2), "first_call_cpu_s": round(first_call_seconds(name), 2)})
        print(json.dumps(rows[-1]))
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "plugin-embedders.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
