"""Build the training set: download sources, mine pairs, dedupe, cap, drop leaks, split.

The result is a list of :class:`Pair` records (also written as JSON lines), each tagged
``train`` or ``val``. The validation split holds out whole packages, so tuning on it
measures transfer to unseen code, like the evaluation corpora (which are never tuned on).
"""
from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path

from coderag.train import SEED
from coderag.train.mine import js_pairs
from coderag.train.mine import norm_text
from coderag.train.mine import python_pairs
from coderag.train.sources import Source
from coderag.train.sources import download
from coderag.train.sources import iter_files

MAX_PAIRS_PER_PACKAGE = 2000
VAL_FRACTION = 0.1
# Lines shorter than this ("return x", "}") are too common to say that code was copied.
_LEAK_LINE_CHARS = 24


@dataclass(frozen=True)
class Pair:
    """One training example: a doc comment's first sentence and the code it documents."""

    query: str
    code: str
    package: str
    path: str
    name: str
    lang: str
    split: str = "train"
    #: The code as an index window sees it (neighbouring lines, doc comment removed).
    window: str = ""


def mine_source(source: Source, archive: str | Path, classes: bool = False) -> list[Pair]:
    """All pairs of one package archive, in file order (``classes``: Python class docstrings too)."""
    out = []
    for rel, text in iter_files(archive, source.exclude):
        if rel.endswith(".py"):
            found, lang = python_pairs(text, classes=classes), "python"
        else:
            found, lang = js_pairs(text), "javascript"
        out.extend(Pair(q, code, source.key, rel, name, lang, window=w) for q, code, name, w in found)
    return out


def _code_key(code: str) -> str:
    return hashlib.sha1(" ".join(code.split()).encode()).hexdigest()


class LeakFilter:
    """Recognises pairs whose query or code appears in an evaluation corpus.

    A corpus folder holds ``queries.jsonl`` and the indexed ``repo/``. A query leaks when its
    word sequence equals an evaluation query; code leaks when half or more of its long lines
    occur verbatim in the corpus files (a copied or vendored function, re-indented or not).
    """

    def __init__(self, corpora: Iterable[str | Path] = ()):
        self.queries: set[str] = set()
        self.lines: set[str] = set()
        for corpus in corpora:
            corpus = Path(corpus)
            for line in (corpus / "queries.jsonl").read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self.queries.add(norm_text(json.loads(line)["query"]))
            for path in (corpus / "repo").rglob("*"):
                if ".git" in path.parts or not path.is_file():
                    continue
                try:
                    text = path.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
                self.lines.update(s for s in (ln.strip() for ln in text.split("\n")) if len(s) >= _LEAK_LINE_CHARS)

    def leaks(self, pair: Pair) -> bool:
        """True if the pair must be dropped."""
        if norm_text(pair.query) in self.queries:
            return True
        long_lines = [s for s in (ln.strip() for ln in pair.code.split("\n")) if len(s) >= _LEAK_LINE_CHARS]
        if not long_lines or not self.lines:
            return False
        return sum(s in self.lines for s in long_lines) * 2 >= len(long_lines)


def is_val_package(package: str, fraction: float = VAL_FRACTION) -> bool:
    """Deterministic package-level split (a hash of the name, not of the order)."""
    digest = hashlib.sha256(f"{SEED}:{package}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def build_pairs(per_package: dict[str, list[Pair]], cap: int = MAX_PAIRS_PER_PACKAGE,
                leak_filter: LeakFilter | None = None, val_fraction: float = VAL_FRACTION) -> tuple[list[Pair], dict]:
    """Dedupe, filter leaks, cap and split mined pairs.

    Only the first pair (in package, then file order) of a repeated query or code body is
    kept: a repeated query ("Return the name.") paired with several bodies would give the
    contrastive loss false negatives. Then leaks are removed, then each package is capped to
    ``cap`` pairs by a seeded sample.

    :returns: the pairs (sorted by package, path) and counts of what was dropped.
    """
    seen_q: set[str] = set()
    seen_c: set[str] = set()
    stats = {"mined": sum(len(v) for v in per_package.values()), "duplicate": 0, "leak": 0, "capped": 0}
    out: list[Pair] = []
    for package in sorted(per_package):
        kept = []
        for p in per_package[package]:
            q_key, c_key = norm_text(p.query), _code_key(p.code)
            if q_key in seen_q or c_key in seen_c:
                stats["duplicate"] += 1
                continue
            seen_q.add(q_key)
            seen_c.add(c_key)
            if leak_filter is not None and leak_filter.leaks(p):
                stats["leak"] += 1
            else:
                kept.append(p)
        if len(kept) > cap:
            stats["capped"] += len(kept) - cap
            rng = random.Random(f"{SEED}:{package}")
            kept = [kept[i] for i in sorted(rng.sample(range(len(kept)), cap))]
        split = "val" if is_val_package(package, val_fraction) else "train"
        out.extend(Pair(**{**asdict(p), "split": split}) for p in kept)
    stats["kept"] = len(out)
    stats["train"] = sum(p.split == "train" for p in out)
    stats["val"] = stats["kept"] - stats["train"]
    stats["javascript"] = sum(p.lang == "javascript" for p in out)
    return out, stats


def collect(sources: list[Source], cache: Path, fetch: bool = True, classes: bool = False) -> dict[str, list[Pair]]:
    """Mine every source (downloading missing archives when ``fetch``), keyed by package."""
    from coderag.train.sources import archive_path

    per_package = {}
    for source in sources:
        archive = download(source, cache) if fetch else archive_path(source, cache)
        if archive is None:
            raise FileNotFoundError(f"{source.key} is not in the cache {cache}; run with downloads enabled")
        per_package[source.key] = mine_source(source, archive, classes=classes)
    return per_package


def write_pairs(pairs: list[Pair], path: str | Path) -> None:
    """One JSON object per line."""
    with open(path, "w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")


def read_pairs(path: str | Path) -> list[Pair]:
    """Inverse of :func:`write_pairs`."""
    with open(path, encoding="utf-8") as fh:
        return [Pair(**json.loads(line)) for line in fh if line.strip()]


def doc_text(pair: Pair, with_path: bool = False, window: bool = False) -> str:
    """The document side as the model sees it.

    :param with_path: prefix the file path, as index chunks are embedded.
    :param window: the index-window context instead of the bare definition.
    """
    code = pair.window if window and pair.window else pair.code
    return f"{pair.path}\n{code}" if with_path else code


