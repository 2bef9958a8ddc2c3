#!/usr/bin/env python3
"""The word cache against the Rust tokenizer over every chunk of a repository.

    python bench/tokenizer_exactness.py                       # bench-large
    python bench/tokenizer_exactness.py --corpus ../corpora/public

Chunks every file at HEAD as an index would (same chunker, same embedding
texts, plus every file path, which path mixing embeds too), tokenises every
text both ways in one process and one thread, and reports the number of texts
whose ids differ (it must be 0), how many the cache covered, and the time of
each.  Writes ``bench/out/tokenizer-exactness-<corpus>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(HERE.parent.parent / "corpora" / "bench-large"))
    args = parser.parse_args()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one thread each way
    from chunk_texts import embedding_texts
    from coderag.embedding.model2vec_embedder import DEFAULT_MODEL_DIR
    from coderag.embedding.static_encoder import StaticEncoder

    chunks, paths = embedding_texts(str(Path(args.corpus) / "repo"))
    texts = chunks + paths
    encoder = StaticEncoder.from_folder(DEFAULT_MODEL_DIR)
    cache = encoder._word_cache()
    if cache is None:
        print("the bundled model's tokenizer is not one the word cache covers", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    reference = [e.ids for e in encoder.tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
    rust_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = encoder._token_ids(texts)
    cache_s = time.perf_counter() - t0
    mismatched = [i for i, (a, b) in enumerate(zip(reference, ours)) if a != b]
    result = {
        "corpus": str(args.corpus), "texts": len(texts), "mb": round(sum(len(t.encode()) for t in texts) / 1e6, 1),
        "covered_by_the_cache": sum(map(cache.covers, texts)), "mismatched": len(mismatched),
        "rust_tokenizer_s": round(rust_s, 2), "word_cache_s": round(cache_s, 2),
        "speedup": round(rust_s / cache_s, 2), "cached_words": len(cache),
        "first_mismatches": [texts[i][:200] for i in mismatched[:3]],
    }
    out = HERE / "out" / f"tokenizer-exactness-{Path(args.corpus).name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
