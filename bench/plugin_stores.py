#!/usr/bin/env python3
"""Lexical stores head to head: coderag's builtin ``whoosh`` against the ``bm25s`` plugin.

Both get the same documents: every chunk of a repository (the public
evaluation corpus by default), chunked by coderag's ``code`` chunker and
tokenised exactly as an index update does.  Measured per store:

* full build: ``add`` every document, one ``commit`` (a cold index);
* update: delete ``--changes`` documents, add as many, ``commit`` (a commit
  hook touching a few files), the median of ``--rounds`` rounds;
* open: a read-only open, as each ``git coderag search`` does;
* query: median latency over the corpus' first 200 queries;
* disk: bytes in the store's folder after the updates.

Times are wall clock and this process's CPU time
(``*_cpu_s``), the steadier number on a shared machine; both stores run
in one process here.

``--scale N`` repeats the corpus N times (with fresh labels and paths) to
see how each cost grows::

    python bench/plugin_stores.py                       # the public corpus
    python bench/plugin_stores.py --scale 4 --stores bm25s,whoosh

Prints one JSON object per store and writes ``bench/out/plugin-stores-<scale>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def corpus_docs(repo: Path, scale: int) -> list:
    """LexicalDocs for every chunk of ``repo``'s HEAD, repeated ``scale`` times."""
    from coderag.backends.chunkers import make_code_chunker
    from coderag.analysis.documents import lexical_doc
    from coderag.analysis.languages import detect_language
    from coderag.analysis.languages import is_probably_generated
    from coderag.indexing.file_pipeline import decode_blob
    from coderag.protocols import LexicalDoc

    chunker = make_code_chunker()
    paths = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True,
                           check=True).stdout.decode().split("\0")
    base = []
    for path in filter(None, paths):
        text, _ = decode_blob((repo / path).read_bytes(), 1_000_000)
        if text is None or is_probably_generated(path, text):
            continue
        for chunk in chunker.chunk(path, text, detect_language(path, text[:200])):
            if chunk.text.strip():
                base.append(lexical_doc(0, chunk))
    docs = []
    for copy in range(scale):
        prefix = f"copy{copy} " if copy else ""
        docs += [LexicalDoc(len(docs) + i + 1, d.symbol, prefix + d.path, d.body) for i, d in enumerate(base)]
    return docs


def queries(corpus: Path, limit: int = 200) -> list[list[str]]:
    from coderag.analysis.tokenize import query_tokens

    lines = (corpus / "queries.jsonl").read_text().splitlines()[:limit]
    return [query_tokens(json.loads(line)["query"]) for line in lines]


def factory(name: str):
    from coderag import plugins

    return plugins.registry("lexical_store").factories[name]


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def measure(name: str, docs: list, query_list: list[list[str]], changes: int, rounds: int) -> dict:
    make = factory(name)
    work = Path(tempfile.mkdtemp(prefix=f"stores-{name}-"))
    try:
        directory = work / "store"
        store = make(directory)
        t0, c0 = time.perf_counter(), time.process_time()
        store.add(docs)
        store.commit()
        build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
        update_times, update_cpu = [], []
        next_label = len(docs) + 1
        for r in range(rounds):
            # Replace `changes` documents spread over the corpus: a small commit.
            victims = docs[r::max(1, len(docs) // changes)][:changes]
            t0, c0 = time.perf_counter(), time.process_time()
            store.delete([d.label for d in victims])
            store.add([type(d)(next_label + i, d.symbol, d.path, d.body + " edited") for i, d in enumerate(victims)])
            store.commit()
            update_times.append(time.perf_counter() - t0)
            update_cpu.append(time.process_time() - c0)
            next_label += len(victims)
        store.close()
        t0 = time.perf_counter()
        reader = make(directory, readonly=True)
        open_s = time.perf_counter() - t0
        latencies, query_cpu = [], []
        for tokens in query_list:
            t0, c0 = time.perf_counter(), time.process_time()
            reader.search(tokens, 100)
            latencies.append(time.perf_counter() - t0)
            query_cpu.append(time.process_time() - c0)
        reader.close()
        return {"store": name, "docs": len(docs), "build_s": round(build, 3), "build_cpu_s": round(build_cpu, 3),
                "update_s_median": round(statistics.median(update_times), 4),
                "update_cpu_s_median": round(statistics.median(update_cpu), 4),
                "update_s_all": [round(t, 4) for t in update_times], "changes": changes,
                "open_s": round(open_s, 4), "query_ms_p50": round(1000 * statistics.median(latencies), 2),
                "query_ms_p95": round(1000 * sorted(latencies)[int(0.95 * (len(latencies) - 1))], 2),
                "query_cpu_ms_p50": round(1000 * statistics.median(query_cpu), 2),
                "disk_mb": round(folder_bytes(directory) / 1e6, 2)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT.parent / "corpora" / "public"),
                        help="a built evaluation corpus (repo/ and queries.jsonl)")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stores", default="whoosh,bm25s")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    corpus = Path(args.corpus)
    t0 = time.perf_counter()
    docs = corpus_docs(corpus / "repo", args.scale)
    print(f"{len(docs)} documents prepared in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    query_list = queries(corpus)
    results = [measure(name, docs, query_list, args.changes, args.rounds) for name in args.stores.split(",")]
    for row in results:
        print(json.dumps(row))
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / f"plugin-stores-{args.scale}.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
