"""``python -m coderag.train``: rebuild coderag's bundled model.

Subcommands: ``distill`` (base table only), ``mine`` (download packages, write pairs),
``train`` (train a table on mined pairs) and ``build`` (all three, the shipped model).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "models" / "default"


def _out_flag(out: Path) -> str:
    """The ``--out`` part of a rebuild command, empty for the shipped folder (no local paths in cards)."""
    return "" if Path(out).resolve() == DEFAULT_OUT else f" --out {out}"


def _distill(args: argparse.Namespace) -> int:
    from coderag.train.card import render_card
    from coderag.train.distill import distill_base
    from coderag.train.export import write_model

    model = distill_base(pca_dims=args.dims)
    vectors = model.embedding
    card = render_card(
        title="coderag default model (distilled, untrained)",
        summary="all-MiniLM-L6-v2 distilled into a static model2vec token table. "
                "Not trained on code.",
        command="python -m coderag.train distill" + _out_flag(args.out),
        vocab_size=len(vectors), dim=vectors.shape[1], dtype=args.dtype,
    )
    config = {"model_type": "model2vec", "architectures": ["StaticModel"], "tokenizer_name": "all-MiniLM-L6-v2",
              "apply_pca": args.dims, "sif_coefficient": 1e-4, "seq_length": 1000000,
              "normalize": True, "pooling": "mean"}
    digest = write_model(args.out, vectors, model.tokenizer, config, card, dtype=args.dtype)
    print(f"wrote {args.out} ({digest})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns a process exit code."""
    parser = argparse.ArgumentParser(prog="python -m coderag.train", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("distill", help="distil all-MiniLM-L6-v2 into a static model (needs torch)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--dims", type=int, default=256)
    p.add_argument("--dtype", default="int8", choices=["int8", "float16", "float32"])
    p.set_defaults(func=_distill)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
