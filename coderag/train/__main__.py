"""``python -m coderag.train``: rebuild coderag's bundled model.

Subcommands: ``distill`` (base table only, needs torch), ``mine`` (download the pinned
packages, write pairs), ``train`` (train a table on mined pairs and export it), ``build``
(all three: the shipped model from nothing) and ``card`` (fill in evaluation results).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "models" / "default"
#: The pinned training list (PyPI wheels and npm packages); training uses these and only these.
DEFAULT_PACKAGES = Path(__file__).resolve().parent / "packages.json"
#: Width of the distilled table (PCA of MiniLM's 384-d token outputs; 384 keeps every dimension).
DIMS = 384
BASE_CONFIG = {"model_type": "model2vec", "architectures": ["StaticModel"], "tokenizer_name": "all-MiniLM-L6-v2",
               "apply_pca": DIMS, "sif_coefficient": 1e-4, "seq_length": 1000000, "normalize": True,
               "pooling": "mean"}


def _out_flag(out: Path) -> str:
    """The ``--out`` part of a rebuild command, empty for the shipped folder (no local paths in cards)."""
    return "" if Path(out).resolve() == DEFAULT_OUT else f" --out {out}"


def _base_config(dims: int) -> dict:
    return dict(BASE_CONFIG, apply_pca=dims)


def _dims_flag(dims: int) -> str:
    return "" if dims == DIMS else f" --dims {dims}"


def _distill(args: argparse.Namespace) -> int:
    from coderag.train.card import render_card
    from coderag.train.distill import distill_base
    from coderag.train.export import write_model

    model = distill_base(pca_dims=args.dims)
    card = render_card(
        title="coderag default model (distilled, untrained)",
        summary="all-MiniLM-L6-v2 distilled into a static model2vec token table. Not trained on code.",
        command="python -m coderag.train distill" + _dims_flag(args.dims) + _out_flag(args.out),
        vocab_size=len(model.embedding), dim=args.dims, dtype=args.dtype)
    digest = write_model(args.out, model.embedding, model.tokenizer, _base_config(args.dims), card, dtype=args.dtype)
    print(f"wrote {args.out} ({digest})")
    return 0


def _mine(args: argparse.Namespace) -> dict:
    from coderag.train.data import LeakFilter
    from coderag.train.data import build_pairs
    from coderag.train.data import collect
    from coderag.train.data import write_pairs
    from coderag.train.sources import load_sources

    sources = load_sources(args.packages)
    per_package = collect(sources, args.cache, fetch=not args.no_download, classes=args.classes)
    pairs, stats = build_pairs(per_package, cap=args.cap, leak_filter=LeakFilter(args.exclude_corpus))
    write_pairs(pairs, args.pairs)
    # Kept next to the pairs so that a later 'train' can put them on the model card.
    _stats_path(args.pairs).write_text(json.dumps(stats), encoding="utf-8")
    print(json.dumps(stats))
    return stats


def _stats_path(pairs: Path) -> Path:
    return Path(f"{pairs}.stats.json")


def _train(args: argparse.Namespace, init: Path, data_stats: dict | None = None) -> int:
    from coderag.train.card import render_card
    from coderag.train.data import read_pairs
    from coderag.train.export import write_model
    from coderag.train.pipeline import PairTokens
    from coderag.train.pipeline import load_table
    from coderag.train.pipeline import run
    from coderag.train.trainer import TrainConfig

    table, tokenizer, unk_id, _ = load_table(init)
    pairs = read_pairs(args.pairs)
    if getattr(args, "val_pairs", None):
        # Compare pair sets (other cap, other miners) on one fixed validation set.
        pairs = [p for p in pairs if p.split == "train"] + [p for p in read_pairs(args.val_pairs) if p.split == "val"]
    splits = ("train", "val") if args.use_val else ("train",)
    words = []
    if args.code_vocab:
        from coderag.train.vocab import code_vocabulary
        from coderag.train.vocab import extend_vocabulary
        from coderag.train.vocab import split_camel_case

        seen = [p for p in pairs if p.split in splits]
        words = code_vocabulary([p.code for p in seen] + [p.query for p in seen], tokenizer, args.code_vocab,
                                args.min_count)
        table, tokenizer = extend_vocabulary(table, tokenizer, words)
        tokenizer = split_camel_case(tokenizer)
        print(f"added {len(words)} code words; camelCase split on")
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, temperature=args.temperature,
                      max_tokens=args.max_tokens, group_batches=args.group_batches, schedule=args.schedule,
                      token_dropout=args.token_dropout)
    tokens = PairTokens(pairs, tokenizer, unk_id, cfg.max_tokens, with_path=args.with_path, docs=args.docs)
    trained, summary = run(table, tokens, cfg, train_splits=splits)
    if args.out is None:
        return 0
    training = {**{k: v for k, v in vars(cfg).items()}, "with_path": args.with_path, "docs": args.docs,
                "code words added (camelCase split)": len(words),
                "trained_on": "+".join(splits), "pairs": summary["pairs"],
                "validation MRR@10 (held-out packages) before": summary["val_mrr@10_before"],
                # Once the validation split is trained on, its score says nothing about new code.
                "validation MRR@10 after": "not held out (trained on)" if args.use_val else summary["val_mrr@10_after"],
                "train seconds (wall)": summary["seconds"]}
    if data_stats is None and _stats_path(args.pairs).exists():
        data_stats = json.loads(_stats_path(args.pairs).read_text(encoding="utf-8"))
    if data_stats:
        training.update({f"data: {k}": v for k, v in data_stats.items()})
    metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
    card = render_card(
        title="coderag default model (code-trained static embeddings)",
        summary="all-MiniLM-L6-v2 distilled into a static model2vec token table, then trained on "
                "(docstring first sentence -> code) pairs mined from pinned open-source packages, "
                "so that natural-language queries land near the code they describe.",
        command="python -m coderag.train build" + (" --use-val" if args.use_val else "")
                + " --exclude-corpus EVAL_CORPUS" + _out_flag(args.out),
        vocab_size=len(trained), dim=trained.shape[1], dtype=args.dtype,
        data="Pairs mined with `ast` (Python) and a JSDoc scanner (JavaScript) from the pinned PyPI "
             "wheels and npm packages of the training list (`packages.json`, one archive each, "
             "vendored folders, tests and docs skipped). Query: first sentence of the doc comment, markup "
             "removed, at least 4 words; code: the definition without its doc comment. Repeated "
             "queries and code are dropped, pairs whose query or code appears in an evaluation corpus "
             "are dropped, at most 2,000 pairs per package (seeded sample). 10% of the packages "
             "(by a seeded hash of the name) form the validation split.",
        training=training, metrics=metrics)
    digest = write_model(args.out, trained, tokenizer, _base_config(trained.shape[1]), card, dtype=args.dtype)
    print(f"wrote {args.out} ({digest})")
    return 0


def _build(args: argparse.Namespace) -> int:
    from coderag.train.distill import distill_base
    from coderag.train.export import write_model

    stats = _mine(args)
    with tempfile.TemporaryDirectory() as tmp:
        base = distill_base(pca_dims=args.dims)
        write_model(tmp, base.embedding, base.tokenizer, _base_config(args.dims), "", dtype="float32")
        return _train(args, Path(tmp), stats)


def _add_mine_args(p: argparse.ArgumentParser) -> None:
    from coderag.train.data import MAX_PAIRS_PER_PACKAGE
    from coderag.train.sources import default_cache

    p.add_argument("--packages", type=Path, default=DEFAULT_PACKAGES, help="training list (packages.json)")
    p.add_argument("--cache", type=Path, default=default_cache(), help="download cache")
    p.add_argument("--no-download", action="store_true", help="use only archives already in the cache")
    p.add_argument("--exclude-corpus", action="append", default=[], type=Path,
                   help="evaluation corpus (queries.jsonl + repo/) whose queries and code must not be trained on")
    p.add_argument("--cap", type=int, default=MAX_PAIRS_PER_PACKAGE, help="pairs per package")
    p.add_argument("--classes", action=argparse.BooleanOptionalAction, default=False,
                   help="also mine Python class docstrings -> class header and body start "
                        "(off: it lost on the validation split, see docs/model.md)")
    p.add_argument("--pairs", type=Path, default=Path("pairs.jsonl"), help="pairs file to write")


def _add_train_args(p: argparse.ArgumentParser, need_pairs: bool) -> None:
    if need_pairs:
        p.add_argument("--pairs", type=Path, required=True, help="pairs file written by 'mine'")
        p.add_argument("--init", type=Path, default=DEFAULT_OUT, help="model2vec folder to start from")
        p.add_argument("--val-pairs", type=Path, help="take the validation split from this pairs file instead")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT if not need_pairs else None)
    # Defaults are the shipped recipe (chosen on the validation split, see docs/model.md).
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--schedule", default="linear", choices=["constant", "linear"])
    p.add_argument("--temperature", type=float, default=0.05)
    p.add_argument("--token-dropout", type=float, default=0.2, help="share of tokens dropped per step")
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--code-vocab", type=int, default=6000, help="code words to add (0: keep the vocabulary)")
    p.add_argument("--min-count", type=int, default=10, help="least frequency of an added code word")
    p.add_argument("--no-path", dest="with_path", action="store_false", help="do not prefix code with its path")
    p.add_argument("--docs", default="code", choices=["code", "window", "mix"],
                   help="document side: the definition, its index window, or half of each")
    p.add_argument("--group-batches", action="store_true", help="batches drawn one package at a time")
    p.add_argument("--use-val", action="store_true", help="also train on the validation split")
    p.add_argument("--dtype", default="int8", choices=["int8", "float16", "float32"])
    p.add_argument("--metrics", help="JSON list of metric rows for the model card")


def _card(args: argparse.Namespace) -> int:
    from coderag.train.card import replace_metrics

    readme = Path(args.out) / "README.md"
    readme.write_text(replace_metrics(readme.read_text(encoding="utf-8"), json.loads(Path(args.metrics).read_text())),
                      encoding="utf-8")
    print(f"updated {readme}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns a process exit code."""
    parser = argparse.ArgumentParser(prog="python -m coderag.train", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("distill", help="distil all-MiniLM-L6-v2 into a static model (needs torch)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--dims", type=int, default=DIMS, help="table width (PCA components, at most 384)")
    p.add_argument("--dtype", default="int8", choices=["int8", "float16", "float32"])
    p.set_defaults(func=_distill)
    p = sub.add_parser("mine", help="download the pinned packages and mine (query, code) pairs")
    _add_mine_args(p)
    p.set_defaults(func=lambda a: _mine(a) and 0)
    p = sub.add_parser("train", help="train a table on mined pairs; with --out, export it")
    _add_train_args(p, need_pairs=True)
    p.set_defaults(func=lambda a: _train(a, a.init))
    p = sub.add_parser("build", help="distil + mine + train: rebuild the shipped model (needs torch)")
    p.add_argument("--dims", type=int, default=DIMS, help="table width (PCA components, at most 384)")
    _add_mine_args(p)
    _add_train_args(p, need_pairs=False)
    p.set_defaults(func=_build)
    p = sub.add_parser("card", help="fill the model card's metrics table from a JSON list of rows")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--metrics", type=Path, required=True)
    p.set_defaults(func=_card)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    # One BLAS thread: multi-threaded matrix products sum in a different order, and the PCA of
    # distillation and the training steps must give the same bytes on every run. numpy is
    # imported lazily by the subcommands, so this is still in time.
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    sys.exit(main())
