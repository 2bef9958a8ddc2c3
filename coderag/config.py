"""Settings from git config (``coderag.*`` keys), with defaults that need none.

Backends are chosen by name and receive their options as keyword arguments::

    git config coderag.embedder model2vec
    git config coderag.embedder.model /path/to/model2vec-folder
    git config coderag.chunker.max-lines 200     # passed as max_lines=200

Git lower-cases section and key names and forbids ``_`` in them, so option
keys use ``-``, which becomes ``_``.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from coderag.errors import ConfigError

BACKEND_KEYS = {
    "chunker": ("chunker", "code"),
    "embedder": ("embedder", "model2vec"),
    "vector_store": ("vectorstore", "hnsw"),
    "lexical_store": ("lexicalstore", "whoosh"),
}
DEFAULT_MAX_FILE_BYTES = 1_000_000


def _parse_value(value: str) -> Any:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


@dataclass
class Settings:
    """Everything configurable, resolved once per command."""

    backends: dict[str, str] = field(default_factory=lambda: {k: d for k, (_, d) in BACKEND_KEYS.items()})
    options: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: {} for k in BACKEND_KEYS})
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    workers: int = 0
    """Worker processes for big updates; 0 picks from the CPU count."""
    batch_files: int = 0
    """Files per worker task; 0 picks a default."""
    weights: dict[str, float] = field(default_factory=dict)
    """Search-time weights overriding the ranker's defaults (``coderag.search.<name>``)."""
    plugins_load: list[str] | None = None
    """``coderag.plugins.load``: only these plugin entry points load (``None``: all)."""
    plugins_disable: list[str] = field(default_factory=list)
    """``coderag.plugins.disable``: these plugin entry points never load."""

    def identity(self, kind: str) -> str:
        """A stable description of one backend and its options, recorded in the index."""
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.options[kind].items()))
        return f"{self.backends[kind]}({opts})"


def read_git_config(repo: Path) -> dict[str, str]:
    """All ``coderag.*`` keys visible in ``repo`` (system, global, local, worktree)."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "config", "-z", "--get-regexp", r"^coderag\."],
        capture_output=True,
    )
    if proc.returncode not in (0, 1):  # 1 means "no such keys"
        raise ConfigError(f"git config failed: {proc.stderr.decode(errors='replace').strip()}")
    values: dict[str, str] = {}
    for record in proc.stdout.decode("utf-8", errors="replace").split("\0"):
        if not record:
            continue
        key, _, value = record.partition("\n")
        values[key.lower()] = value
    return values


def load_settings(repo: Path, overrides: dict[str, str] | None = None) -> Settings:
    """Settings for ``repo`` from git config, then ``CODERAG_*`` env, then ``overrides``."""
    raw = read_git_config(repo)
    if overrides:
        raw.update({k.lower(): v for k, v in overrides.items()})
    settings = Settings()
    for kind, (key, _default) in BACKEND_KEYS.items():
        name = raw.get(f"coderag.{key}")
        if name:
            settings.backends[kind] = name.strip()
        prefix = f"coderag.{key}."
        for full_key, value in raw.items():
            if full_key.startswith(prefix):
                option = full_key[len(prefix):].replace("-", "_")
                settings.options[kind][option] = _parse_value(value)
    settings.max_file_bytes = _int_setting(raw, "coderag.maxfilesize", DEFAULT_MAX_FILE_BYTES)
    settings.workers = _int_setting(raw, "coderag.workers", int(os.environ.get("CODERAG_WORKERS", "0") or 0))
    settings.batch_files = _int_setting(raw, "coderag.batchfiles", 0)
    for full_key, value in raw.items():
        if full_key.startswith("coderag.search."):
            try:
                settings.weights[full_key[len("coderag.search."):].replace("-", "_")] = float(value)
            except ValueError:
                raise ConfigError(f"git config {full_key} must be a number, got {value!r}") from None
    _plugin_filters(raw, settings)
    return settings


def _plugin_filters(raw: dict[str, str], settings: Settings) -> None:
    """Read ``coderag.plugins.load`` / ``.disable`` and apply them to the plugin manager."""
    from coderag import plugins

    load = raw.get("coderag.plugins.load")
    settings.plugins_load = plugins.split_names(load) if load is not None else None
    settings.plugins_disable = plugins.split_names(raw.get("coderag.plugins.disable", ""))
    # The plugin manager is process-wide: the settings loaded last decide.
    plugins.configure(settings.plugins_load, settings.plugins_disable)


def _int_setting(raw: dict[str, str], key: str, default: int) -> int:
    value = raw.get(key)
    if value is None or value == "":
        return default
    multiplier = 1
    text = value.strip().lower()
    for suffix, factor in (("k", 1024), ("m", 1024**2), ("g", 1024**3)):
        if text.endswith(suffix):
            text, multiplier = text[:-1], factor
    try:
        number = int(text) * multiplier
    except ValueError:
        raise ConfigError(f"git config {key} must be a whole number, got {value!r}") from None
    if number < 0:
        raise ConfigError(f"git config {key} must not be negative, got {value!r}")
    return number
