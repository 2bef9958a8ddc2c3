"""Size, load time and encode speed of model2vec folders on real code.

    python bench/model_quality.py --texts PATH/TO/REPO coderag/models/default OTHER_MODEL ...

Texts are 40-line windows (10 lines of overlap) of the ``.py``/``.js`` files under
``--texts``, each prefixed by its path, embedded with ``max_length=None`` on one thread.
Retrieval quality is measured with the evaluation harness; see docs/model.md.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def windows(root: Path, limit: int) -> list[str]:
    out = []
    for path in sorted(root.rglob("*")):
        if ".git" in path.parts or path.suffix not in (".py", ".js") or not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        for start in range(0, max(len(lines) - 10, 1), 30):
            out.append(f"{path.relative_to(root)}\n" + "\n".join(lines[start:start + 40]))
            if len(out) >= limit:
                return out
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--texts", type=Path, required=True, help="folder of source files")
    parser.add_argument("--limit", type=int, default=5000, help="number of windows")
    parser.add_argument("--rounds", type=int, default=3, help="best of N encode rounds")
    args = parser.parse_args(argv)
    from model2vec import StaticModel

    texts = windows(args.texts, args.limit)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} windows, {mb:.1f} MB")
    for folder in args.models:
        size = sum((folder / n).stat().st_size for n in ("config.json", "model.safetensors", "tokenizer.json"))
        start = time.perf_counter()
        model = StaticModel.from_pretrained(str(folder))
        load = time.perf_counter() - start
        best = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            model.encode(texts, max_length=None, use_multiprocessing=False)
            best = min(best, time.perf_counter() - start)
        print(f"{folder}: {size / 2**20:.1f} MiB, vocab {len(model.tokens)}, load {load:.2f} s, "
              f"encode {len(texts) / best:,.0f} windows/s ({mb / best:.2f} MB/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
